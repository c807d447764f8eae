import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from './config.js';

const PEM = '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n';
const DATABASE_URL = 'postgres://accounts@db:5432/accounts';

/** The ConfigError parseConfig throws, so its problems can be read. */
function configErrorOf(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('reports every missing or bad variable at once, by name', () => {
    const error = configErrorOf(() =>
      parseConfig({ DB_POOL_MAX: 'abc', BCRYPT_COST: '99', LOG_LEVEL: 'loud' }, ['database', 'passwords', 'tokens']),
    );
    expect(error.name).toBe('ConfigError');
    expect(error.problems).toHaveLength(5);
    const named = (variable: string) => error.problems.filter((problem) => problem.startsWith(`${variable} `));
    expect(named('DATABASE_URL')).toEqual(['DATABASE_URL is required but not set']);
    expect(named('JWT_PUBLIC_KEY')).toEqual(['JWT_PUBLIC_KEY is required but not set']);
    expect(named('DB_POOL_MAX')).toHaveLength(1);
    expect(named('DB_POOL_MAX')[0]).not.toMatch(/required but not set/);
    expect(named('BCRYPT_COST')).toHaveLength(1);
    expect(named('BCRYPT_COST')[0]).toMatch(/15/);
    expect(named('LOG_LEVEL')).toHaveLength(1);
    for (const variable of ['DATABASE_URL', 'DB_POOL_MAX', 'BCRYPT_COST', 'JWT_PUBLIC_KEY', 'LOG_LEVEL']) {
      expect(error.message).toContain(`  - ${variable} `);
    }
  });

  it('applies defaults for everything optional', () => {
    const config = parseConfig({ DATABASE_URL, JWT_PUBLIC_KEY: PEM }, ['database', 'passwords', 'tokens']);
    expect(config).toEqual({
      PORT: 8080,
      K_SERVICE: 'local',
      K_REVISION: 'local',
      LOG_LEVEL: 'info',
      SHUTDOWN_TIMEOUT_MS: 20_000,
      DATABASE_URL,
      DB_POOL_MAX: 5,
      BCRYPT_COST: 12,
      PASSWORD_HASH_THREADS: availableParallelism(),
      JWT_PUBLIC_KEY: PEM,
      JWT_ALGORITHM: 'ES256',
      JWT_ISSUER: 'knative-accounts',
      JWT_AUDIENCE: 'knative-accounts',
      JWT_KEY_ID: 'accounts-1',
      VERIFIED_TOKEN_CACHE_SIZE: 10_000,
    });
  });

  it('reads numbers from strings and keeps what is set', () => {
    const config = parseConfig(
      { PORT: '9090', K_SERVICE: 'users-get', DATABASE_URL: 'postgresql://x@y/z', DB_POOL_MAX: '7', BCRYPT_COST: '4', PASSWORD_HASH_THREADS: '3' },
      ['database', 'passwords'],
    );
    expect(config).toMatchObject({ PORT: 9090, K_SERVICE: 'users-get', DB_POOL_MAX: 7, BCRYPT_COST: 4, PASSWORD_HASH_THREADS: 3 });
  });

  it('counts an empty or blank string as unset', () => {
    const config = parseConfig({ PORT: ' ', LOG_LEVEL: '', DATABASE_URL, DB_POOL_MAX: '  ' }, ['database']);
    expect(config).toMatchObject({ PORT: 8080, LOG_LEVEL: 'info', DB_POOL_MAX: 5 });
    const error = configErrorOf(() => parseConfig({ DATABASE_URL: '' }, ['database']));
    expect(error.problems).toEqual(['DATABASE_URL is required but not set']);
  });

  it('requires only the sections the function names', () => {
    expect(parseConfig({}, [])).toMatchObject({ PORT: 8080 });
    expect(parseConfig({}, ['passwords'])).toMatchObject({ BCRYPT_COST: 12 });
    const onlyDatabase = parseConfig({ DATABASE_URL }, ['database']);
    expect(onlyDatabase).not.toHaveProperty('JWT_PUBLIC_KEY');
    expect(onlyDatabase).not.toHaveProperty('BCRYPT_COST');
    // A bad value in a section nobody asked for is not this function's problem.
    expect(() => parseConfig({ DATABASE_URL, BCRYPT_COST: '99' }, ['database'])).not.toThrow();
    expect(configErrorOf(() => parseConfig({ DATABASE_URL }, ['database', 'tokens'])).problems).toEqual([
      'JWT_PUBLIC_KEY is required but not set',
    ]);
  });

  it('checks the shape of URLs, keys, enums and ranges', () => {
    const error = configErrorOf(() =>
      parseConfig(
        {
          DATABASE_URL: 'mysql://db/accounts',
          JWT_PUBLIC_KEY: 'not a key',
          JWT_ALGORITHM: 'HS256',
          PORT: '70000',
          PASSWORD_HASH_THREADS: '0',
          DB_POOL_MAX: '2.5',
        },
        ['database', 'passwords', 'tokens'],
      ),
    );
    const names = error.problems.map((problem) => problem.split(' ', 1)[0]).sort();
    expect(names).toEqual(['DATABASE_URL', 'DB_POOL_MAX', 'JWT_ALGORITHM', 'JWT_PUBLIC_KEY', 'PASSWORD_HASH_THREADS', 'PORT']);
    expect(error.problems).toContain('DATABASE_URL must be a postgres:// or postgresql:// URL');
    expect(error.problems).toContain('JWT_PUBLIC_KEY must be a PEM public key (SPKI)');
  });

  it('turns escaped \\n in a one-line PEM into newlines', () => {
    const oneLine = PEM.replace(/\n/g, '\\n');
    expect(oneLine).not.toContain('\n');
    expect(parseConfig({ JWT_PUBLIC_KEY: oneLine }, ['tokens']).JWT_PUBLIC_KEY).toBe(PEM);
  });

  it('never echoes a value it refuses', () => {
    const error = configErrorOf(() => parseConfig({ DATABASE_URL: 'mysql://admin:s3cret@db/x' }, ['database']));
    expect(error.message).not.toContain('s3cret');
  });
});
