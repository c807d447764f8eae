import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';

/**
 * The logins the functions connect as, each a member of one group role: one per domain that owns a
 * schema (migration 2026-11-26-003), and `credentials`, the users functions that check passwords,
 * the only ones that may read password hashes (migrations 2026-11-28-001 and -002).
 */
export type DatabaseLogin = 'users' | 'credentials' | 'auth' | 'notify';

export const DATABASE_LOGINS: readonly DatabaseLogin[] = ['users', 'credentials', 'auth', 'notify'];

export interface LoginRole {
  /** NOLOGIN role holding the grants, created by a migration. */
  readonly group: string;
  /** LOGIN role the functions connect as; a member of `group`. */
  readonly login: string;
  /** Environment variable holding the login's password for `migrate provision-logins`. */
  readonly passwordVariable: string;
}

export const LOGIN_ROLES: Readonly<Record<DatabaseLogin, LoginRole>> = Object.freeze({
  users: Object.freeze({ group: 'accounts_users', login: 'users_fn', passwordVariable: 'USERS_DB_PASSWORD' }),
  credentials: Object.freeze({ group: 'accounts_credentials', login: 'credentials_fn', passwordVariable: 'CREDENTIALS_DB_PASSWORD' }),
  auth: Object.freeze({ group: 'accounts_auth', login: 'auth_fn', passwordVariable: 'AUTH_DB_PASSWORD' }),
  notify: Object.freeze({ group: 'accounts_notify', login: 'notify_fn', passwordVariable: 'NOTIFY_DB_PASSWORD' }),
});

export type LoginPasswords = Partial<Record<DatabaseLogin, string>>;

/** The passwords set in the environment; a login whose variable is unset or empty is left out. */
export function loginPasswordsFromEnv(env: NodeJS.ProcessEnv): LoginPasswords {
  const passwords: LoginPasswords = {};
  for (const kind of DATABASE_LOGINS) {
    const value = env[LOGIN_ROLES[kind].passwordVariable];
    if (value) passwords[kind] = value;
  }
  return passwords;
}

export interface ProvisionedLogin {
  readonly kind: DatabaseLogin;
  readonly login: string;
  readonly group: string;
  readonly action: 'created' | 'updated';
}

export interface ProvisionLoginsOptions {
  /** Other login role names (tests: roles are cluster-wide, so each run uses names of its own). */
  readonly loginNames?: Partial<Record<DatabaseLogin, string>>;
}

/**
 * Creates each LOGIN role that has a password (or sets the password of one that exists) and makes
 * it a member of its group role, which must exist (`migrate up` first). Logins
 * without a password are skipped. Returns what it did; never the passwords.
 *
 * The password reaches the server as a SCRAM-SHA-256 verifier computed here, as psql's
 * `\password` does, so the clear text never appears in a statement (nor in a server log of
 * statements). A password with non-ASCII characters is sent as a quoted literal instead, so the
 * server applies its own SASLprep normalization to it.
 */
export async function provisionLogins(
  db: Kysely<unknown>,
  passwords: LoginPasswords,
  options: ProvisionLoginsOptions = {},
): Promise<ProvisionedLogin[]> {
  const provisioned: ProvisionedLogin[] = [];
  for (const kind of DATABASE_LOGINS) {
    const password = passwords[kind];
    if (password === undefined || password === '') continue;
    const group = LOGIN_ROLES[kind].group;
    const login = options.loginNames?.[kind] ?? LOGIN_ROLES[kind].login;

    const groupRole = await sql`select 1 from pg_catalog.pg_roles where rolname = ${group}`.execute(db);
    if (groupRole.rows.length === 0) throw new Error(`group role ${group} does not exist: run \`migrate up\` first`);

    const existing = await sql<{ rolsuper: boolean; rolcreaterole: boolean; rolcreatedb: boolean; rolreplication: boolean; rolbypassrls: boolean }>`
      select rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls from pg_catalog.pg_roles where rolname = ${login}`.execute(db);
    const current = existing.rows[0];
    if (current && (current.rolsuper || current.rolcreaterole || current.rolcreatedb || current.rolreplication || current.rolbypassrls)) {
      throw new Error(`role ${login} exists with more than a login needs (superuser, createrole, createdb, replication or bypassrls): fix it by hand`);
    }

    const identifier = pg.escapeIdentifier(login);
    const secret = passwordToSend(password);
    const passwordLiteral = pg.escapeLiteral(secret);
    let action: ProvisionedLogin['action'] = current ? 'updated' : 'created';
    if (!current) {
      try {
        await sql.raw(`create role ${identifier} with login inherit password ${passwordLiteral}`).execute(db);
      } catch (error) {
        // Created meanwhile by another run: set its password like any existing one.
        if ((error as { code?: string }).code !== '42710') throw withoutSecret(error, login, [password, secret]);
        action = 'updated';
      }
    }
    if (action === 'updated') {
      await sql.raw(`alter role ${identifier} with login inherit password ${passwordLiteral}`).execute(db).catch((error: unknown) => {
        throw withoutSecret(error, login, [password, secret]);
      });
    }
    await sql.raw(`grant ${pg.escapeIdentifier(group)} to ${identifier}`).execute(db);
    provisioned.push({ kind, login, group, action });
  }
  return provisioned;
}

/** A SCRAM-SHA-256 verifier in the form Postgres stores (and accepts in place of a password). */
export function scramSha256Verifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const storedKey = createHash('sha256').update(createHmac('sha256', salted).update('Client Key').digest()).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

function passwordToSend(password: string): string {
  // Postgres runs SASLprep over a password before deriving its verifier, and leaves pure ASCII as is.
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(password) ? scramSha256Verifier(password) : password;
}

/** A failed role statement's error, with any quote of the statement's secret taken out. */
function withoutSecret(error: unknown, login: string, secrets: readonly string[]): Error {
  const code = (error as { code?: string }).code;
  let message = error instanceof Error ? error.message : String(error);
  for (const secret of secrets) message = message.split(secret).join('[redacted]');
  return new Error(`setting the password of role ${login} failed${code ? ` (${code})` : ''}: ${message}`);
}
