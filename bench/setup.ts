import { randomBytes } from 'node:crypto';
import { exportPKCS8, exportSPKI, generateKeyPair } from 'jose';
import pg from 'pg';
import { createDatabase } from '../functions/shared/database.js';
import { createPasswordHasher } from '../functions/shared/passwords/password-hasher.js';
import { createTokenSigner } from '../functions/shared/tokens.js';
import { insertUser } from '../functions/users/user-repository.js';
import type { UserRecord } from '../functions/users/user.js';
import { connectMigrator, migrateAll } from '../migrations/migrate.js';

export interface BenchSetup {
  readonly databaseUrl: string;
  readonly publicKeyPem: string;
  readonly privateKeyPem: string;
  /** The user every read asks for, and a token for them; an admin's token for the listing. */
  readonly reader: UserRecord;
  readonly readerToken: string;
  readonly adminToken: string;
  /** Users whose password is `password`, for sign-in. */
  readonly signInEmails: readonly string[];
  readonly password: string;
  drop(): Promise<void>;
}

/**
 * A scratch database on the Postgres at `adminUrl`, migrated, with 100 users (so a listing returns
 * a full page of 50), sign-in users hashed at `bcryptCost`, and an ES256 key pair.
 */
export async function setUpBench(adminUrl: string, bcryptCost: number): Promise<BenchSetup> {
  const name = `bench_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  // The bench drops its database WITH (FORCE) at the end; a lost admin connection is not a crash.
  admin.on('error', () => undefined);
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const databaseUrl = url.toString();
  const drop = async () => {
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  };
  try {
    const migrator = connectMigrator(databaseUrl);
    await migrateAll(migrator);
    await migrator.destroy();

    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const publicKeyPem = await exportSPKI(publicKey);
    const privateKeyPem = await exportPKCS8(privateKey);
    const signer = await createTokenSigner({
      privateKeyPem,
      algorithm: 'ES256',
      keyId: 'accounts-1',
      issuer: 'knative-accounts',
      audience: 'knative-accounts',
      ttlSeconds: 3_600,
    });

    const db = createDatabase({ url: databaseUrl, poolMax: 4, applicationName: 'bench' });
    const password = 'correct horse battery';
    const hasher = createPasswordHasher({ cost: bcryptCost, threads: 2 });
    const passwordHash = await hasher.hash(password);
    await hasher.close();
    const users: UserRecord[] = [];
    for (let i = 0; i < 100; i += 1) {
      users.push(await insertUser(db, { email: `bench${i}@example.com`, name: `Bench${i}`, surname: 'Mark', passwordHash, role: i === 0 ? 'admin' : 'user' }));
    }
    await db.destroy();
    const reader = users[1] as UserRecord;
    return {
      databaseUrl,
      publicKeyPem,
      privateKeyPem,
      reader,
      readerToken: (await signer.sign({ userId: reader.id, role: 'user', tokenVersion: 1 })).accessToken,
      adminToken: (await signer.sign({ userId: (users[0] as UserRecord).id, role: 'admin', tokenVersion: 1 })).accessToken,
      signInEmails: users.slice(1, 41).map((user) => user.email),
      password,
      drop,
    };
  } catch (error) {
    await drop();
    throw error;
  }
}
