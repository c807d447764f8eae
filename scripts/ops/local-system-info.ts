import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';

/**
 * What a running local system (`make dev`) publishes about itself, so that scripts such as
 * `admin:grant` and `migrate` reach the same database without any settings.
 */
export interface LocalSystemInfo {
  readonly databaseUrl: string;
  readonly gatewayUrl: string;
  /** The local broker's ingress (the functions' K_SINK), where `replay-dead-letters` sends; absent in files of older runners. */
  readonly brokerUrl?: string;
  readonly pid: number;
}

export function localDataDir(env: NodeJS.ProcessEnv): string {
  return resolve(env['LOCAL_DATA_DIR'] ?? '.data');
}

function infoPathIn(dataDir: string): string {
  return resolve(dataDir, 'local-system.json');
}

export function localSystemInfoPath(env: NodeJS.ProcessEnv): string {
  return infoPathIn(localDataDir(env));
}

/** Written by the runner once the system is up; returns the function that removes it again. */
export async function publishLocalSystemInfo(dataDir: string, info: LocalSystemInfo): Promise<() => Promise<void>> {
  const path = infoPathIn(dataDir);
  // It holds the database URL, password included: for this user's eyes only (a file left by an
  // earlier run keeps its mode on a write, hence the chmod).
  await writeFile(path, JSON.stringify(info, null, 2), { mode: 0o600 });
  await chmod(path, 0o600);
  return () => rm(path, { force: true });
}

export async function readLocalSystemInfo(env: NodeJS.ProcessEnv): Promise<LocalSystemInfo | undefined> {
  try {
    const info = JSON.parse(await readFile(localSystemInfoPath(env), 'utf8')) as LocalSystemInfo;
    process.kill(info.pid, 0); // throws when that runner is no longer running
    return info;
  } catch {
    return undefined;
  }
}

/** DATABASE_URL when set, else the database of the running local system. */
export async function resolveDatabaseUrl(env: NodeJS.ProcessEnv): Promise<string> {
  const configured = env['DATABASE_URL'];
  if (configured) return configured;
  const info = await readLocalSystemInfo(env);
  if (info) return info.databaseUrl;
  throw new Error('set DATABASE_URL, or start the local system first (make dev)');
}
