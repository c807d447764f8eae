import { exportPKCS8, exportSPKI, generateKeyPair } from 'jose';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface SigningKeyPair {
  readonly privateKeyPem: string;
  readonly publicKeyPem: string;
}

export const LOCAL_SIGNING_ALGORITHM = 'ES256';
export const LOCAL_KEY_ID = 'local-1';

/**
 * The local system's token signing key, made on first start and kept (git-ignored) in the data
 * folder, so tokens stay valid across restarts. In the cluster the key comes from a Secret.
 */
export async function ensureLocalSigningKey(dataDir: string): Promise<SigningKeyPair> {
  const dir = join(dataDir, 'keys');
  const privatePath = join(dir, 'signing-key.pem');
  const publicPath = join(dir, 'signing-key.pub.pem');
  if (existsSync(privatePath) && existsSync(publicPath)) {
    return { privateKeyPem: await readFile(privatePath, 'utf8'), publicKeyPem: await readFile(publicPath, 'utf8') };
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { privateKey, publicKey } = await generateKeyPair(LOCAL_SIGNING_ALGORITHM, { extractable: true });
  const pair = { privateKeyPem: await exportPKCS8(privateKey), publicKeyPem: await exportSPKI(publicKey) };
  await writeFile(privatePath, pair.privateKeyPem, { mode: 0o600 });
  await writeFile(publicPath, pair.publicKeyPem);
  return pair;
}
