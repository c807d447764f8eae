import { sql, type Kysely } from 'kysely';

// Lets each function's readiness check see which expand migration the database is at, without
// giving the domain roles any right on the migration ledger itself. Like every function it is
// executable by any role that can connect; all it tells is a migration's name.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create or replace function public.accounts_schema_version() returns text
      language sql stable security definer set search_path = pg_catalog, public
      as $$ select max(name) from public.kysely_migration $$`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop function if exists public.accounts_schema_version()`.execute(db);
}
