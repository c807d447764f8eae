// What every peer does the same way as users-get and users-list: the same queries on one pool of 10.
import pg from 'pg';

export const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.DB_POOL_MAX ?? 10) });

const COLUMNS = 'id, email, name, surname, role, created_at, updated_at, version';
const resource = (row) => ({
  id: row.id,
  email: row.email,
  name: row.name,
  surname: row.surname,
  role: row.role,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
});

/** GET /users/{id} and GET /users (first page of 50): [status, body, headers] or undefined for any other path. */
export async function answer(path) {
  const byId = /^\/users\/([0-9a-f-]{36})$/.exec(path);
  if (byId) {
    const { rows } = await pool.query(`select ${COLUMNS} from users.users where id = $1`, [byId[1]]);
    if (!rows[0]) return [404, { title: 'Not Found' }, {}];
    return [200, resource(rows[0]), { ETag: `"${rows[0].id}.${rows[0].version}"` }];
  }
  if (path === '/users') {
    const { rows } = await pool.query(`select ${COLUMNS} from users.users order by created_at, id limit 51`);
    return [200, { items: rows.slice(0, 50).map(resource), nextCursor: rows.length > 50 ? 'more' : null }, {}];
  }
  return undefined;
}
