import { sql, type Kysely } from 'kysely';

// Security at the edges, the additive part (expand):
// - users.rate_limit_hits: requests counted per limit and key (registrations per client address).
// - auth.login_failures by time: the global prune of old rows, and the lockout count within the window.
// - accounts_credentials: the group role of the users functions that check passwords (users-create,
//   users-update, users-verify). Every right accounts_users has, plus what a wrong current password
//   on a change needs of the sign-in lockout (auth.login_failures). The contract migration then takes
//   the hash column away from accounts_users, so the functions that never check a password cannot read it.
// - notify.deliveries.user_id: whose alert a delivery was, so it can leave with the account.
// - accounts_forget_user(): what leaves with a deleted account, in every domain, in the deleting transaction.
// - accounts_prune_personal_data(): the retention period, run on the relay's schedule.
/** What leaves with a deleted account (this migration's version; later ones extend it, and their down restores it). */
export const FORGET_USER_V1 = sql`
    create or replace function public.accounts_forget_user(forgotten uuid, forgotten_email text) returns void
      language plpgsql volatile security definer set search_path = pg_catalog, public
      as $$
      begin
        delete from auth.sign_ins where user_id = forgotten;
        delete from auth.outbox where event->>'subject' = forgotten::text;
        delete from auth.login_failures where email_key = lower(forgotten_email);
        delete from notify.deliveries where user_id = forgotten or lower(recipient) = lower(forgotten_email);
        delete from notify.dead_letters where event->>'subject' = forgotten::text or position(lower(forgotten_email) in lower(event::text)) > 0;
      end
      $$`;

/** The retention prune (this migration's version; later ones extend it, and their down restores it). */
export const PRUNE_PERSONAL_DATA_V1 = sql`
    create or replace function public.accounts_prune_personal_data(retention interval) returns bigint
      language plpgsql volatile security definer set search_path = pg_catalog, public
      as $$
      declare
        removed bigint := 0;
        batch bigint;
      begin
        delete from auth.sign_ins where signed_in_at < now() - retention;
        get diagnostics batch = row_count; removed := removed + batch;
        delete from auth.outbox where sent_at < now() - retention;
        get diagnostics batch = row_count; removed := removed + batch;
        delete from notify.deliveries where created_at < now() - retention;
        get diagnostics batch = row_count; removed := removed + batch;
        delete from notify.dead_letters where received_at < now() - retention;
        get diagnostics batch = row_count; removed := removed + batch;
        -- Counters are worth nothing after a day: no window is that long.
        delete from auth.login_failures where failed_at < now() - interval '1 day';
        get diagnostics batch = row_count; removed := removed + batch;
        delete from users.rate_limit_hits where hit_at < now() - interval '1 day';
        get diagnostics batch = row_count; removed := removed + batch;
        return removed;
      end
      $$`;

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table users.rate_limit_hits (
      id bigint generated always as identity primary key,
      bucket text not null,
      key text not null,
      hit_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index rate_limit_hits_key_idx on users.rate_limit_hits (bucket, key, hit_at)`.execute(db);
  await sql`create index rate_limit_hits_time_idx on users.rate_limit_hits (hit_at)`.execute(db);
  await sql`create index login_failures_time_idx on auth.login_failures (failed_at)`.execute(db);

  await sql`
    do $$
    begin
      if not exists (select from pg_catalog.pg_roles where rolname = 'accounts_credentials') then
        begin
          create role accounts_credentials nologin;
        exception when duplicate_object or unique_violation then
          null; -- created meanwhile by a migration of another database on this cluster
        end;
      end if;
    end
    $$`.execute(db);
  await sql`grant usage on schema users to accounts_credentials`.execute(db);
  await sql`grant select, insert, update, delete on all tables in schema users to accounts_credentials`.execute(db);
  await sql`grant usage on all sequences in schema users to accounts_credentials`.execute(db);
  await sql`alter default privileges in schema users grant select, insert, update, delete on tables to accounts_credentials`.execute(db);
  await sql`alter default privileges in schema users grant usage on sequences to accounts_credentials`.execute(db);
  await sql`grant usage on schema auth to accounts_credentials`.execute(db);
  await sql`grant select, insert, delete on auth.login_failures to accounts_credentials`.execute(db);
  await sql`grant usage on sequence auth.login_failures_id_seq to accounts_credentials`.execute(db);

  await sql`alter table notify.deliveries add column user_id uuid`.execute(db);
  await sql`create index deliveries_user_idx on notify.deliveries (user_id)`.execute(db);
  await sql`create index deliveries_created_idx on notify.deliveries (created_at)`.execute(db);
  await sql`create index sign_ins_time_idx on auth.sign_ins (signed_in_at)`.execute(db);
  await sql`create index outbox_sent_idx on auth.outbox (sent_at) where sent_at is not null`.execute(db);
  await sql`create index dead_letters_received_idx on notify.dead_letters (received_at)`.execute(db);

  // Runs with the rights of the migration's role: a users function may call it, and it does exactly
  // this to the other domains' rows of one user, nothing else.
  await FORGET_USER_V1.execute(db);
  await sql`revoke all on function public.accounts_forget_user(uuid, text) from public`.execute(db);
  await sql`grant execute on function public.accounts_forget_user(uuid, text) to accounts_users, accounts_credentials`.execute(db);

  await PRUNE_PERSONAL_DATA_V1.execute(db);
  await sql`revoke all on function public.accounts_prune_personal_data(interval) from public`.execute(db);
  await sql`grant execute on function public.accounts_prune_personal_data(interval) to accounts_auth`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop function if exists public.accounts_prune_personal_data(interval)`.execute(db);
  await sql`drop function if exists public.accounts_forget_user(uuid, text)`.execute(db);
  await sql`drop index if exists auth.outbox_sent_idx`.execute(db);
  await sql`drop index if exists auth.sign_ins_time_idx`.execute(db);
  await sql`drop index if exists notify.dead_letters_received_idx`.execute(db);
  await sql`drop index if exists notify.deliveries_created_idx`.execute(db);
  await sql`alter table notify.deliveries drop column if exists user_id`.execute(db);
  await sql`revoke all on sequence auth.login_failures_id_seq from accounts_credentials`.execute(db);
  await sql`revoke all on auth.login_failures from accounts_credentials`.execute(db);
  await sql`revoke all on schema auth from accounts_credentials`.execute(db);
  await sql`alter default privileges in schema users revoke all on tables from accounts_credentials`.execute(db);
  await sql`alter default privileges in schema users revoke all on sequences from accounts_credentials`.execute(db);
  await sql`revoke all on all tables in schema users from accounts_credentials`.execute(db);
  await sql`revoke all on all sequences in schema users from accounts_credentials`.execute(db);
  await sql`revoke all on schema users from accounts_credentials`.execute(db);
  await sql`drop index if exists auth.login_failures_time_idx`.execute(db);
  await sql`drop table if exists users.rate_limit_hits`.execute(db);
  await sql`
    do $$
    begin
      drop role if exists accounts_credentials;
    exception when dependent_objects_still_exist then
      raise notice 'role accounts_credentials still has rights in another database; left in place';
    end
    $$`.execute(db);
}
