import { sql, type Kysely } from 'kysely';

// auth.relay_passes (expand): when the last outbox relay pass started, in one row, so a flood of
// pings runs at most one pass per interval across every instance: a compare-and-set on the row
// in one statement, which holds through PgBouncer in transaction mode where a session lock would not.

export async function up(db: Kysely<unknown>): Promise<void> {
  // `id` is always true: the table holds at most one row.
  await sql`
    create table auth.relay_passes (
      id boolean primary key default true check (id),
      started_at timestamptz not null
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists auth.relay_passes`.execute(db);
}
