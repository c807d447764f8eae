import { sql, type Kysely } from 'kysely';

// Migrations see the database as it was when they were written, never the application's types.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create schema if not exists users`.execute(db);
  await sql`
    create table users.users (
      id uuid primary key default gen_random_uuid(),
      email text not null check (length(email) between 3 and 254),
      name text not null,
      surname text not null,
      password_hash text not null,
      role text not null default 'user' check (role in ('user', 'admin')),
      version integer not null default 1,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`.execute(db);
  await sql`create unique index users_email_key on users.users (lower(email))`.execute(db);
  // Listing pages in (created_at, id) order; name and surname searches are case-insensitive prefixes.
  await sql`create index users_created_at_id_idx on users.users (created_at, id)`.execute(db);
  await sql`create index users_name_prefix_idx on users.users (lower(name) text_pattern_ops)`.execute(db);
  await sql`create index users_surname_prefix_idx on users.users (lower(surname) text_pattern_ops)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop schema users cascade`.execute(db);
}
