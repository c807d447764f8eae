import { sql, type Kysely } from 'kysely';
import { databaseLoginOf, specOf, type FunctionName } from '../../functions/inventory.js';
import type { Database } from '../../functions/shared/database.js';
import { DATABASE_LOGINS, LOGIN_ROLES } from '../../migrations/logins.js';
import { openTestDatabase } from './database-clients.js';

/**
 * A test login per group role, as `migrate provision-logins` makes one per group in the cluster: a
 * LOGIN role that is a member of the group, so a query the group may not run fails here as it would
 * there. Roles are cluster-wide: these are made once per server and shared by every test database
 * and every concurrent run (the password only satisfies the embedded server's password check).
 */
export const TEST_LOGIN_PASSWORD = 'test-login';

export function testLoginOf(group: string): string {
  return `test_login_${group}`;
}

/** Creates the test logins that are missing and makes each a member of its group (the groups exist once `migrate up` ran). */
export async function ensureTestLogins(admin: Kysely<unknown>): Promise<void> {
  for (const kind of DATABASE_LOGINS) {
    const { group } = LOGIN_ROLES[kind];
    const login = testLoginOf(group);
    // Another test file may be doing the same at the same moment: losing that race is fine.
    await sql
      .raw(
        `do $$ begin
          if not exists (select from pg_catalog.pg_roles where rolname = '${login}') then
            create role ${login} with login inherit password '${TEST_LOGIN_PASSWORD}';
          end if;
        exception when duplicate_object or unique_violation then null;
        end $$`,
      )
      .execute(admin);
    await sql
      .raw(
        `do $$ begin
          if not pg_catalog.pg_has_role('${login}', '${group}', 'member') then
            grant ${group} to ${login};
          end if;
        exception when duplicate_object or unique_violation then null;
        end $$`,
      )
      .execute(admin);
  }
}

/**
 * The test database as a function's own login sees it: connected as the test login of the group role
 * its login belongs to in the cluster (through PgBouncer on the real server, as the functions go
 * through the Pooler), so a query the role may not run fails here as it would there.
 */
export function connectAsFunction(url: string, name: FunctionName): Kysely<Database> {
  const asLogin = new URL(url);
  asLogin.username = testLoginOf(LOGIN_ROLES[databaseLoginOf(specOf(name))].group);
  asLogin.password = TEST_LOGIN_PASSWORD;
  return openTestDatabase(asLogin.toString(), { poolMax: 5, applicationName: name });
}
