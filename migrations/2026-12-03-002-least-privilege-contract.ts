import { sql, type Kysely } from 'kysely';

// Contract, once every revision publishes through accounts_outbox_claim/accounts_outbox_record and
// leaves forgetting a deleted account to the trigger (2026-12-03-001):
// - the users roles may only add events to the outbox: no reading them (every sign-in's address and
//   user agent), no marking them sent;
// - accounts_forget_user(uuid, text), callable with any id and any email, is gone;
// - accounts_users ends no sessions (none of its functions changes a password or a role).
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`revoke select, update on auth.outbox from accounts_users, accounts_credentials`.execute(db);
  await sql`drop function if exists public.accounts_forget_user(uuid, text)`.execute(db);
  await sql`revoke execute on function public.accounts_end_sessions(uuid, text) from accounts_users`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`grant execute on function public.accounts_end_sessions(uuid, text) to accounts_users`.execute(db);
  await sql`
    create or replace function public.accounts_forget_user(forgotten uuid, forgotten_email text) returns void
      language plpgsql volatile security definer set search_path = pg_catalog, public
      as $$
      begin
        null; -- the trigger users_forget_deleted does it when the row goes
      end
      $$`.execute(db);
  await sql`revoke all on function public.accounts_forget_user(uuid, text) from public`.execute(db);
  await sql`grant execute on function public.accounts_forget_user(uuid, text) to accounts_users, accounts_credentials`.execute(db);
  await sql`grant select, update on auth.outbox to accounts_users, accounts_credentials`.execute(db);
}
