import { sql, type Kysely } from 'kysely';
import { FORGET_USER_V1, PRUNE_PERSONAL_DATA_V1 } from './2026-11-28-001-security.js';

// The account lifecycle, the additive part (expand):
// - users.users.email_verified (existing accounts start unverified: nobody has proven those
//   addresses yet) and token_version: bumped by a password change or reset, a role change; access
//   tokens carry it, so every token issued before the change stops working.
// - users.email_tokens: verification and reset tokens, stored only as their SHA-256.
// - auth.sessions and auth.refresh_tokens: a session per sign-in, its refresh token family
//   (every token it ever had, so a rotated one presented again is recognised and ends the session).
// - The outbox is the one table every producer writes: the users functions that emit the account
//   emails insert their events and publish them after commit, as auth-login does.
// - accounts_users may read the new columns and set email_verified, with the version and time of
//   the change (the verification functions connect as users_fn); accounts_credentials reads and
//   sets everything of users.users already.
// - accounts_end_sessions(): a users function ends a user's sessions (password, role, reset) in its
//   own transaction, with no right on auth's tables.
// - accounts_forget_user() and accounts_prune_personal_data() take sessions and tokens along.

/** What leaves with a deleted account, now with its sessions (their refresh tokens go with them). */
const FORGET_USER_V2 = sql`
    create or replace function public.accounts_forget_user(forgotten uuid, forgotten_email text) returns void
      language plpgsql volatile security definer set search_path = pg_catalog, public
      as $$
      begin
        delete from auth.sign_ins where user_id = forgotten;
        delete from auth.sessions where user_id = forgotten;
        delete from auth.outbox where event->>'subject' = forgotten::text;
        delete from auth.login_failures where email_key = lower(forgotten_email);
        delete from users.email_tokens where user_id = forgotten;
        delete from notify.deliveries where user_id = forgotten or lower(recipient) = lower(forgotten_email);
        delete from notify.dead_letters where event->>'subject' = forgotten::text or position(lower(forgotten_email) in lower(event::text)) > 0;
      end
      $$`;

/** The retention prune, now with ended or long idle sessions and spent email tokens. */
const PRUNE_PERSONAL_DATA_V2 = sql`
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
        -- A session's address and user agent are kept as long as a sign-in's.
        delete from auth.sessions where coalesce(ended_at, last_used_at) < now() - retention;
        get diagnostics batch = row_count; removed := removed + batch;
        -- Counters and spent tokens are worth nothing after a day: no window or token lives longer.
        delete from auth.login_failures where failed_at < now() - interval '1 day';
        get diagnostics batch = row_count; removed := removed + batch;
        delete from users.rate_limit_hits where hit_at < now() - interval '1 day';
        get diagnostics batch = row_count; removed := removed + batch;
        delete from users.email_tokens where expires_at < now() - interval '1 day';
        get diagnostics batch = row_count; removed := removed + batch;
        return removed;
      end
      $$`;

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table users.users add column email_verified boolean not null default false`.execute(db);
  await sql`alter table users.users add column token_version integer not null default 1`.execute(db);
  await sql`grant select (email_verified, token_version), update (email_verified, version, updated_at) on users.users to accounts_users`.execute(db);

  await sql`
    create table users.email_tokens (
      token_hash bytea primary key,
      user_id uuid not null references users.users (id) on delete cascade,
      purpose text not null check (purpose in ('email-verification', 'password-reset')),
      email text not null,
      created_at timestamptz not null default now(),
      expires_at timestamptz not null,
      used_at timestamptz
    )`.execute(db);
  await sql`create index email_tokens_user_idx on users.email_tokens (user_id, purpose)`.execute(db);
  await sql`create index email_tokens_expiry_idx on users.email_tokens (expires_at)`.execute(db);

  await sql`
    create table auth.sessions (
      id uuid primary key default gen_random_uuid(),
      user_id uuid not null,
      role text not null,
      token_version integer not null,
      client_address text not null,
      user_agent text not null,
      created_at timestamptz not null default now(),
      last_used_at timestamptz not null default now(),
      ended_at timestamptz,
      end_reason text
    )`.execute(db);
  await sql`create index sessions_user_idx on auth.sessions (user_id) where ended_at is null`.execute(db);
  await sql`create index sessions_last_used_idx on auth.sessions (coalesce(ended_at, last_used_at))`.execute(db);
  await sql`
    create table auth.refresh_tokens (
      token_hash bytea primary key,
      session_id uuid not null references auth.sessions (id) on delete cascade,
      created_at timestamptz not null default now(),
      rotated_at timestamptz
    )`.execute(db);
  await sql`create index refresh_tokens_session_idx on auth.refresh_tokens (session_id)`.execute(db);

  await sql`grant usage on schema auth to accounts_users`.execute(db);
  await sql`grant select, insert, update on auth.outbox to accounts_users, accounts_credentials`.execute(db);

  await sql`
    create or replace function public.accounts_end_sessions(ended_user uuid, reason text) returns integer
      language plpgsql volatile security definer set search_path = pg_catalog, public
      as $$
      declare
        ended integer;
      begin
        update auth.sessions set ended_at = now(), end_reason = reason where user_id = ended_user and ended_at is null;
        get diagnostics ended = row_count;
        return ended;
      end
      $$`.execute(db);
  await sql`revoke all on function public.accounts_end_sessions(uuid, text) from public`.execute(db);
  await sql`grant execute on function public.accounts_end_sessions(uuid, text) to accounts_users, accounts_credentials`.execute(db);

  await FORGET_USER_V2.execute(db);
  await PRUNE_PERSONAL_DATA_V2.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await PRUNE_PERSONAL_DATA_V1.execute(db);
  await FORGET_USER_V1.execute(db);
  await sql`drop function if exists public.accounts_end_sessions(uuid, text)`.execute(db);
  await sql`revoke all on auth.outbox from accounts_users, accounts_credentials`.execute(db);
  await sql`revoke all on schema auth from accounts_users`.execute(db);
  await sql`drop table if exists auth.refresh_tokens`.execute(db);
  await sql`drop table if exists auth.sessions`.execute(db);
  await sql`drop table if exists users.email_tokens`.execute(db);
  await sql`revoke select (email_verified, token_version), update (email_verified, version, updated_at) on users.users from accounts_users`.execute(db);
  await sql`alter table users.users drop column if exists token_version`.execute(db);
  await sql`alter table users.users drop column if exists email_verified`.execute(db);
}
