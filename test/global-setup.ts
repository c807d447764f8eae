import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../runner/embedded-postgres.js';
import { freePort } from '../runner/ports.js';
import { startPgBouncer } from './support/pgbouncer.js';

declare module 'vitest' {
  export interface ProvidedContext {
    realPostgresUrl: string;
    /** The real Postgres through a PgBouncer in transaction mode (test/support/pgbouncer.ts). */
    realPostgresPooledUrl: string;
    embeddedPostgresUrl: string;
  }
}

/**
 * One embedded Postgres for the whole run (its own temporary folder), next to CI's real one, and a
 * PgBouncer in transaction mode in front of the real one (its own temporary folder and port).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dataDir = await mkdtemp(join(tmpdir(), 'accounts-embedded-pg-'));
  const embedded = await startEmbeddedPostgres({ dataDir, port: await freePort(), database: 'postgres' });
  const real = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const realUrl = new URL(real);
  const bouncerDir = await mkdtemp(join(tmpdir(), 'accounts-pgbouncer-'));
  const bouncer = await startPgBouncer({
    dir: bouncerDir,
    port: await freePort(),
    serverHost: realUrl.hostname,
    serverPort: Number(realUrl.port || 5432),
    // Trust, as the real server's own authentication for 127.0.0.1 (CI's and a developer's local one).
    authUser: decodeURIComponent(realUrl.username) || 'postgres',
  }).catch(async (error: unknown) => {
    await embedded.stop();
    await rm(dataDir, { recursive: true, force: true });
    await rm(bouncerDir, { recursive: true, force: true });
    throw error;
  });
  project.provide('embeddedPostgresUrl', embedded.adminUrl);
  project.provide('realPostgresUrl', real);
  project.provide('realPostgresPooledUrl', bouncer.url);
  return async () => {
    await bouncer.stop();
    await rm(bouncerDir, { recursive: true, force: true });
    await embedded.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
}
