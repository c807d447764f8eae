import type { Kysely } from 'kysely';
import { databaseLoginOf, specOf, type FunctionName } from '../../functions/inventory.js';
import { createDatabase, type Database } from '../../functions/shared/database.js';
import { LOGIN_ROLES } from '../../migrations/logins.js';

/**
 * The test database as a function's own login sees it: every session takes the group role of the
 * login the function connects as in the cluster (`SET ROLE` at connect), so a query the role may
 * not run fails here as it would there.
 */
export function connectAsFunction(url: string, name: FunctionName): Kysely<Database> {
  const asRole = new URL(url);
  asRole.searchParams.set('options', `-c role=${LOGIN_ROLES[databaseLoginOf(specOf(name))].group}`);
  return createDatabase({ url: asRole.toString(), poolMax: 5, applicationName: name });
}
