import { sql, type Kysely } from 'kysely';

// Each role gets what its functions do, the additive part (expand; 2026-12-03-002 takes the rest away):
// - The outbox: the users functions publish their own events right after commit through two
//   SECURITY DEFINER functions that act only on the ids passed in (the random UUIDs of the events
//   the caller has just inserted), so the users roles need nothing but INSERT on auth.outbox.
//   accounts_outbox_claim locks and answers those rows still pending (FOR UPDATE SKIP LOCKED: the
//   relay and the caller never both publish one); accounts_outbox_record marks one sent or counts a
//   failure. Every publisher (auth-login too) records through it; the relay still reads the table.
// - What leaves with a deleted account is now a trigger on users.users: it runs in the deleting
//   statement, reads the email from the deleted row, matches it exactly (never a substring), and no
//   role may call it. The event ids the account's emails were delivered under stay in
//   notify.deliveries, without recipient, user or error text, until the retention prune, so a
//   replayed old event is still recognised as handled; so do the ids of the account's events still in
//   the outbox (one the broker still holds then sends nothing to the deleted account).
//   notify.deliveries.recipient may be null for that.
// - accounts_forget_user(uuid, text), which the previous revision calls after its delete, does
//   nothing any more (the trigger did it); the contract migration drops it.
// - accounts_end_sessions() ends only the sessions whose token version is behind the user's: a
//   caller must move the version on first (in its own transaction), as every change that ends
//   sessions does (password, reset, role), and the previous revision's callers all do.
// - accounts_user_standing(): the role and token version a refresh mints from (auth has no right
//   on users.users). It takes no lock: a refresh locks its session first and then reads the user,
//   while a reset locks the user and then the sessions; reading without a lock keeps the order
//   acyclic, and whichever commits first, the other sees it (see functions/auth/sessions.ts).

/** What leaves with a deleted account, run by the trigger `users_forget_deleted` in the deleting statement. */
const FORGET_DELETED_USER = sql`
    create or replace function public.accounts_forget_deleted_user() returns trigger
      language plpgsql volatile security definer set search_path = pg_catalog, public
      as $$
      begin
        delete from auth.sign_ins where user_id = old.id;
        delete from auth.sessions where user_id = old.id;
        -- The ids of its events stay known to notify as handled (nothing of the person in them).
        insert into notify.deliveries (event_id, channel, recipient, user_id, status, last_error, created_at)
          select outbox.id::text, 'email', null, null, 'failed', 'account deleted', outbox.created_at
          from auth.outbox as outbox where outbox.event->>'subject' = old.id::text
          on conflict (event_id) do nothing;
        delete from auth.outbox where event->>'subject' = old.id::text;
        delete from auth.login_failures where email_key = lower(old.email);
        delete from users.email_tokens where user_id = old.id;
        update notify.deliveries
          set recipient = null,
              user_id = null,
              status = case when status = 'sending' then 'failed' else status end,
              last_error = case when status = 'sending' then 'account deleted' end
          where user_id = old.id or lower(recipient) = lower(old.email);
        -- Our producers put the account's id in the subject and in the data; a sign-in alert its email.
        delete from notify.dead_letters
          where event->>'subject' = old.id::text
             or event->'data'->>'userId' = old.id::text
             or lower(event->'data'->>'email') = lower(old.email);
        return null;
      end
      $$`;

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table notify.deliveries alter column recipient drop not null`.execute(db);

  await sql`
    create or replace function public.accounts_outbox_claim(claimed uuid[]) returns table (id uuid, event jsonb)
      language sql volatile security definer set search_path = pg_catalog, public
      as $$
        select outbox.id, outbox.event from auth.outbox as outbox
        where outbox.id = any (claimed) and outbox.sent_at is null
        order by outbox.created_at, outbox.id
        for update skip locked
      $$`.execute(db);
  await sql`revoke all on function public.accounts_outbox_claim(uuid[]) from public`.execute(db);
  await sql`grant execute on function public.accounts_outbox_claim(uuid[]) to accounts_users, accounts_credentials, accounts_auth`.execute(db);

  await sql`
    create or replace function public.accounts_outbox_record(recorded uuid, failure text, recorded_at timestamptz) returns boolean
      language plpgsql volatile security definer set search_path = pg_catalog, public
      as $$
      begin
        update auth.outbox
          set sent_at = case when failure is null then recorded_at end,
              attempts = attempts + 1,
              last_error = left(failure, 500)
          where id = recorded and sent_at is null;
        return found;
      end
      $$`.execute(db);
  await sql`revoke all on function public.accounts_outbox_record(uuid, text, timestamptz) from public`.execute(db);
  await sql`grant execute on function public.accounts_outbox_record(uuid, text, timestamptz) to accounts_users, accounts_credentials, accounts_auth`.execute(db);

  await FORGET_DELETED_USER.execute(db);
  await sql`revoke all on function public.accounts_forget_deleted_user() from public`.execute(db);
  await sql`
    create trigger users_forget_deleted after delete on users.users
      for each row execute function public.accounts_forget_deleted_user()`.execute(db);
  await sql`
    create or replace function public.accounts_forget_user(forgotten uuid, forgotten_email text) returns void
      language plpgsql volatile security definer set search_path = pg_catalog, public
      as $$
      begin
        null; -- the trigger users_forget_deleted did it when the row went
      end
      $$`.execute(db);

  await sql`
    create or replace function public.accounts_end_sessions(ended_user uuid, reason text) returns integer
      language plpgsql volatile security definer set search_path = pg_catalog, public
      as $$
      declare
        ended integer;
      begin
        update auth.sessions as session set ended_at = now(), end_reason = reason
          from users.users as account
          where account.id = ended_user and session.user_id = account.id and session.ended_at is null
            and session.token_version < account.token_version;
        get diagnostics ended = row_count;
        return ended;
      end
      $$`.execute(db);

  await sql`
    create or replace function public.accounts_user_standing(standing_user uuid) returns table (role text, token_version integer)
      language sql stable security definer set search_path = pg_catalog, public
      as $$ select account.role, account.token_version from users.users as account where account.id = standing_user $$`.execute(db);
  await sql`revoke all on function public.accounts_user_standing(uuid) from public`.execute(db);
  await sql`grant execute on function public.accounts_user_standing(uuid) to accounts_auth`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop function if exists public.accounts_user_standing(uuid)`.execute(db);
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
  // Without the trigger, the previous revision's call after its delete does the work again (with
  // exact matches: the substring match of its first versions is not brought back).
  await sql`drop trigger if exists users_forget_deleted on users.users`.execute(db);
  await sql`drop function if exists public.accounts_forget_deleted_user()`.execute(db);
  await sql`
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
        delete from notify.dead_letters
          where event->>'subject' = forgotten::text or event->'data'->>'userId' = forgotten::text
             or lower(event->'data'->>'email') = lower(forgotten_email);
      end
      $$`.execute(db);
  // Made anew if the contract migration had dropped it: only the users roles call it, as before.
  await sql`revoke all on function public.accounts_forget_user(uuid, text) from public`.execute(db);
  await sql`grant execute on function public.accounts_forget_user(uuid, text) to accounts_users, accounts_credentials`.execute(db);
  await sql`drop function if exists public.accounts_outbox_record(uuid, text, timestamptz)`.execute(db);
  await sql`drop function if exists public.accounts_outbox_claim(uuid[])`.execute(db);
  // The kept ids of forgotten accounts go: the column they left empty is required again.
  await sql`delete from notify.deliveries where recipient is null`.execute(db);
  await sql`alter table notify.deliveries alter column recipient set not null`.execute(db);
}
