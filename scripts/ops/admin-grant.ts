import { fileURLToPath } from 'node:url';
import { createDatabase } from '../../functions/shared/database.js';
import { setUserRoleByEmail } from '../../functions/users/user-repository.js';
import { resolveDatabaseUrl } from './local-system-info.js';

/** `npm run admin:grant -- EMAIL`: gives an existing user the admin role (their earlier tokens and sessions end, as with any role change). */
export async function grantAdmin(databaseUrl: string, email: string, now: Date): Promise<string> {
  const db = createDatabase({ url: databaseUrl, poolMax: 1, applicationName: 'admin-grant' });
  try {
    const user = await setUserRoleByEmail(db, email, 'admin', now);
    if (!user) throw new Error(`no user has the email ${email}`);
    return `${user.email} (${user.id}) is now an admin`;
  } finally {
    await db.destroy();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const email = process.argv[2];
  try {
    if (!email) throw new Error('usage: npm run admin:grant -- EMAIL');
    process.stdout.write(`${await grantAdmin(await resolveDatabaseUrl(process.env), email, new Date())}\n`);
  } catch (error) {
    process.stderr.write(`admin:grant: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}
