import type { Migration } from 'kysely';
import * as users from './2026-11-26-001-users.js';
import * as authAndNotify from './2026-11-26-002-auth-and-notify.js';
import * as domainRoles from './2026-11-26-003-domain-roles.js';
import * as schemaVersion from './2026-11-26-004-schema-version.js';
import * as security from './2026-11-28-001-security.js';
import * as hidePasswordHashes from './2026-11-28-002-hide-password-hashes.js';
import * as accountLifecycle from './2026-11-28-003-account-lifecycle.js';
import * as leastPrivilege from './2026-12-03-001-least-privilege.js';
import * as leastPrivilegeContract from './2026-12-03-002-least-privilege-contract.js';
import * as deadLettersFromTheOutbox from './2026-12-03-003-dead-letters-from-the-outbox.js';
import * as relayPasses from './2026-12-03-004-relay-passes.js';
import * as deadLetterReplays from './2026-12-03-005-dead-letter-replays.js';

/**
 * `expand`: safe while two revisions of a function serve side by side during a canary (additive
 * only; `migrate up` runs them before new revisions roll out). `contract`: run after a promote,
 * once no revision needs the old shape (may drop, rename, tighten; `migrate contract`).
 */
export type MigrationPhase = 'expand' | 'contract';

export const MIGRATION_PHASES: readonly MigrationPhase[] = ['expand', 'contract'];

export interface PhasedMigration {
  /** Recorded in the phase's ledger: never rename one that has run anywhere. Also its file name. */
  readonly name: string;
  readonly phase: MigrationPhase;
  readonly migration: Migration;
}

/**
 * Every migration, in name order, with its phase. Listed statically (not read from the folder) so
 * the bundled image carries them inside the migrate entry point.
 */
export const MIGRATIONS: readonly PhasedMigration[] = [
  { name: '2026-11-26-001-users', phase: 'expand', migration: users },
  { name: '2026-11-26-002-auth-and-notify', phase: 'expand', migration: authAndNotify },
  { name: '2026-11-26-003-domain-roles', phase: 'expand', migration: domainRoles },
  { name: '2026-11-26-004-schema-version', phase: 'expand', migration: schemaVersion },
  { name: '2026-11-28-001-security', phase: 'expand', migration: security },
  { name: '2026-11-28-002-hide-password-hashes', phase: 'contract', migration: hidePasswordHashes },
  { name: '2026-11-28-003-account-lifecycle', phase: 'expand', migration: accountLifecycle },
  { name: '2026-12-03-001-least-privilege', phase: 'expand', migration: leastPrivilege },
  { name: '2026-12-03-002-least-privilege-contract', phase: 'contract', migration: leastPrivilegeContract },
  { name: '2026-12-03-003-dead-letters-from-the-outbox', phase: 'expand', migration: deadLettersFromTheOutbox },
  { name: '2026-12-03-004-relay-passes', phase: 'expand', migration: relayPasses },
  { name: '2026-12-03-005-dead-letter-replays', phase: 'expand', migration: deadLetterReplays },
];

/** The migrations of one phase, keyed by name, as kysely's MigrationProvider hands them over. */
export function migrationsOf(phase: MigrationPhase, migrations: readonly PhasedMigration[] = MIGRATIONS): Record<string, Migration> {
  const byName: Record<string, Migration> = {};
  const seen = new Set<string>();
  for (const entry of migrations) {
    // Names are unique across phases too: each is a file in this folder.
    if (seen.has(entry.name)) throw new Error(`migration ${entry.name} is listed twice`);
    seen.add(entry.name);
    if (entry.phase === phase) byName[entry.name] = entry.migration;
  }
  return byName;
}

/** The latest expand migration this code was written against: what readiness expects to find. */
export const EXPECTED_SCHEMA_VERSION: string = MIGRATIONS.filter((entry) => entry.phase === 'expand')
  .map((entry) => entry.name)
  .sort()
  .at(-1) as string;
