import type { Migration, MigrationProvider } from 'kysely';
import * as users from './2026-11-26-001-users.js';
import * as authAndNotify from './2026-11-26-002-auth-and-notify.js';

/**
 * Every migration, in order. Listed statically (not read from the folder) so the bundled
 * image carries them inside the migrate entry point.
 */
export const MIGRATIONS: Record<string, Migration> = {
  '2026-11-26-001-users': users,
  '2026-11-26-002-auth-and-notify': authAndNotify,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => MIGRATIONS,
};
