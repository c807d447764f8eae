import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../runner/embedded-postgres.js';
import { freePort } from '../runner/ports.js';

declare module 'vitest' {
  export interface ProvidedContext {
    realPostgresUrl: string;
    embeddedPostgresUrl: string;
  }
}

/** One embedded Postgres for the whole run (its own temporary folder), next to CI's real one. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dataDir = await mkdtemp(join(tmpdir(), 'accounts-embedded-pg-'));
  const embedded = await startEmbeddedPostgres({ dataDir, port: await freePort(), database: 'postgres' });
  project.provide('embeddedPostgresUrl', embedded.adminUrl);
  project.provide('realPostgresUrl', process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  return async () => {
    await embedded.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
}
