import { afterAll, beforeAll, beforeEach } from 'vitest';
import type { Need } from '../../functions/shared/config.js';
import type { SharedDependencies } from '../../functions/shared/runtime/dependencies.js';
import type { FunctionDefinition } from '../../functions/shared/runtime/definition.js';
import type { UserRecord } from '../../functions/users/user.js';
import { insertUser } from '../../functions/users/user-repository.js';
import type { Database } from '../../functions/shared/database.js';
import type { Kysely } from 'kysely';
import { startTestFunction, type RunningFunction } from './function-harness.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';
import { createTestTokens, type TestTokens } from './tokens.js';

/** A well-formed bcrypt hash for users whose password a test never checks. */
export const FAKE_HASH = `$2b$04$${'a'.repeat(53)}`;

export interface FunctionSuite {
  readonly database: TestDatabase;
  readonly tokens: TestTokens;
  readonly fn: RunningFunction;
}

/** What `startTestFunction` takes besides the dependencies: settings and a clock. */
export type SuiteOptions = NonNullable<Parameters<typeof startTestFunction>[2]>;

/**
 * Registers a function suite's hooks: a database of its own (emptied before each test), a token
 * key pair, and the function running in-process with the dependencies `dependencies` builds and
 * the settings and clock of `options` (or of what it returns, for settings made in `beforeAll`).
 * Fields are filled in by `beforeAll`; read them inside tests and hooks.
 */
export function useFunctionSuite<N extends Need>(
  definition: FunctionDefinition<N>,
  adminUrl: string,
  dependencies: (database: TestDatabase, tokens: TestTokens) => Partial<SharedDependencies>,
  options: SuiteOptions | ((database: TestDatabase, tokens: TestTokens) => SuiteOptions | Promise<SuiteOptions>) = {},
): FunctionSuite {
  const suite = {} as { database: TestDatabase; tokens: TestTokens; fn: RunningFunction };
  beforeAll(async () => {
    suite.database = await createTestDatabase(adminUrl);
    suite.tokens = await createTestTokens();
    const settings = typeof options === 'function' ? await options(suite.database, suite.tokens) : options;
    suite.fn = await startTestFunction(definition, dependencies(suite.database, suite.tokens), settings);
  });
  afterAll(async () => {
    await suite.fn?.close();
    await suite.database?.drop();
  });
  beforeEach(() => suite.database.reset());
  return suite;
}

export interface People {
  readonly ada: UserRecord;
  readonly grace: UserRecord;
  readonly admin: UserRecord;
}

/** Ada and Grace (users) and Root (an admin), all with `passwordHash`. */
export async function seedPeople(db: Kysely<Database>, passwordHash: string = FAKE_HASH): Promise<People> {
  return {
    ada: await insertUser(db, { email: 'ada@example.com', name: 'Ada', surname: 'Lovelace', passwordHash }),
    grace: await insertUser(db, { email: 'grace@example.com', name: 'Grace', surname: 'Hopper', passwordHash }),
    admin: await insertUser(db, { email: 'root@example.com', name: 'Root', surname: 'Admin', passwordHash, role: 'admin' }),
  };
}
