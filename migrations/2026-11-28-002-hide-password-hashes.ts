import { sql, type Kysely } from 'kysely';

// Contract: once every revision of users-create, users-update and users-verify connects as a
// member of accounts_credentials, the users functions that never check a password (users-get,
// users-list, users-delete: members of accounts_users) lose the password hash column, and the
// rights to write users they never use.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`revoke select, insert, update on users.users from accounts_users`.execute(db);
  await sql`grant select (id, email, name, surname, role, version, created_at, updated_at) on users.users to accounts_users`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`revoke select (id, email, name, surname, role, version, created_at, updated_at) on users.users from accounts_users`.execute(db);
  await sql`grant select, insert, update on users.users to accounts_users`.execute(db);
}
