import { exportPKCS8, exportSPKI, generateKeyPair } from 'jose';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface SigningKeyPair {
  readonly privateKeyPem: string;
  readonly publicKeyPem: string;
}

export const LOCAL_SIGNING_ALGORITHM = 'ES256';
export const LOCAL_KEY_ID = 'local-1';

const PRIVATE_FILE = 'signing-key.pem';
const PUBLIC_FILE = 'signing-key.pub.pem';

/**
 * The local system's token signing key, made on first start and kept (git-ignored) in the data
 * folder, so tokens stay valid across restarts. In the cluster the key comes from a Secret.
 */
export async function ensureLocalSigningKey(dataDir: string): Promise<SigningKeyPair> {
  const dir = join(dataDir, 'keys');
  if (!existsSync(join(dir, PRIVATE_FILE)) || !existsSync(join(dir, PUBLIC_FILE))) await createKeyFolder(dataDir, dir);
  return { privateKeyPem: await readFile(join(dir, PRIVATE_FILE), 'utf8'), publicKeyPem: await readFile(join(dir, PUBLIC_FILE), 'utf8') };
}

const SEAL_KEY_FILE = 'event-seal.key';

/**
 * The local system's key that seals the account email events (EVENT_SEAL_KEY), made on first
 * start and kept beside the signing key. Two runners starting at once: the first write wins
 * (exclusive create) and both read that one.
 */
export async function ensureLocalSealKey(dataDir: string): Promise<string> {
  const dir = join(dataDir, 'keys');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, SEAL_KEY_FILE);
  await writeFile(file, randomBytes(32).toString('base64url'), { mode: 0o600, flag: 'wx' }).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  });
  return (await readFile(file, 'utf8')).trim();
}

/**
 * Writes both halves into a folder of their own and renames it into place, so that two runners
 * starting at once on one data folder never leave the private key of one beside the public key
 * of the other: the first rename wins and the other runner reads that pair.
 */
async function createKeyFolder(dataDir: string, dir: string): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  const staging = await mkdtemp(join(dataDir, '.keys-')); // 0700, as the key folder should be
  try {
    const { privateKey, publicKey } = await generateKeyPair(LOCAL_SIGNING_ALGORITHM, { extractable: true });
    await writeFile(join(staging, PRIVATE_FILE), await exportPKCS8(privateKey), { mode: 0o600 });
    await writeFile(join(staging, PUBLIC_FILE), await exportSPKI(publicKey));
    // An empty folder in the way is replaced; one with files in it is another runner's pair.
    await rename(staging, dir).catch((error: unknown) => {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
    });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
