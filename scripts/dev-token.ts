import { randomUUID } from 'node:crypto';
import { importPKCS8, SignJWT } from 'jose';
import { fileURLToPath } from 'node:url';
import { createDatabase } from '../functions/shared/database.js';
import { findUserByEmail } from '../functions/users/user-repository.js';
import { ensureLocalSigningKey, LOCAL_SIGNING_ALGORITHM } from '../runner/keys.js';
import { localDataDir, resolveDatabaseUrl } from './local-system.js';

/**
 * `npm run token -- EMAIL`: an access token for a user of the local system, signed with the
 * local signing key, shaped like the tokens the sign-in function issues (15 minutes).
 */
export async function mintLocalToken(env: NodeJS.ProcessEnv, email: string): Promise<string> {
  const db = createDatabase({ url: await resolveDatabaseUrl(env), poolMax: 1, applicationName: 'dev-token' });
  try {
    const user = await findUserByEmail(db, email);
    if (!user) throw new Error(`no user has the email ${email}`);
    const { privateKeyPem } = await ensureLocalSigningKey(localDataDir(env));
    return await new SignJWT({ role: user.role })
      .setProtectedHeader({ alg: LOCAL_SIGNING_ALGORITHM })
      .setSubject(user.id)
      .setIssuer(env['JWT_ISSUER'] ?? 'knative-accounts')
      .setAudience(env['JWT_AUDIENCE'] ?? 'knative-accounts')
      .setIssuedAt()
      .setJti(randomUUID())
      .setExpirationTime('15m')
      .sign(await importPKCS8(privateKeyPem, LOCAL_SIGNING_ALGORITHM));
  } finally {
    await db.destroy();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    const email = process.argv[2];
    if (!email) throw new Error('usage: npm run token -- EMAIL');
    process.stdout.write(`${await mintLocalToken(process.env, email)}\n`);
  } catch (error) {
    process.stderr.write(`token: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}
