import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create schema if not exists auth`.execute(db);
  // One row per failed sign-in; counted over a sliding window for the lockout.
  await sql`
    create table auth.login_failures (
      id bigint generated always as identity primary key,
      email_key text not null,
      client_address text not null,
      failed_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index login_failures_email_idx on auth.login_failures (email_key, failed_at)`.execute(db);
  await sql`create index login_failures_client_idx on auth.login_failures (client_address, failed_at)`.execute(db);
  await sql`
    create table auth.sign_ins (
      id uuid primary key default gen_random_uuid(),
      user_id uuid not null,
      signed_in_at timestamptz not null,
      client_address text not null,
      user_agent text not null
    )`.execute(db);
  await sql`create index sign_ins_user_idx on auth.sign_ins (user_id, signed_in_at)`.execute(db);
  // Events written in the same transaction as the state change they report; published after commit.
  await sql`
    create table auth.outbox (
      id uuid primary key,
      event_type text not null,
      event jsonb not null,
      created_at timestamptz not null default clock_timestamp(),
      sent_at timestamptz,
      attempts integer not null default 0,
      last_error text
    )`.execute(db);
  await sql`create index outbox_pending_idx on auth.outbox (created_at) where sent_at is null`.execute(db);

  await sql`create schema if not exists notify`.execute(db);
  // Keyed by the CloudEvent id, so a redelivered event sends no second email.
  await sql`
    create table notify.deliveries (
      event_id text primary key,
      channel text not null,
      recipient text not null,
      status text not null check (status in ('sending', 'sent', 'failed')),
      attempts integer not null default 0,
      last_error text,
      created_at timestamptz not null default now(),
      sent_at timestamptz
    )`.execute(db);
  await sql`
    create table notify.dead_letters (
      id bigint generated always as identity primary key,
      event_id text not null,
      event_type text not null,
      event jsonb not null,
      error_destination text,
      error_code text,
      error_data text,
      received_at timestamptz not null default now()
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop schema notify cascade`.execute(db);
  await sql`drop schema auth cascade`.execute(db);
}
