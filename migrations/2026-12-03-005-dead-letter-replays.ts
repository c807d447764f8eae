import { sql, type Kysely } from 'kysely';

// notify.dead_letters.replayed_at (expand): when `npm run replay-dead-letters` sent the dead letter
// back through the broker, so each is sent again once; null while it waits for a replay (and again
// once the replayed event is dead-lettered anew). The notify role's table grants cover the column.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table notify.dead_letters add column replayed_at timestamptz`.execute(db);
  // The replay reads the waiting ones, oldest first.
  await sql`create index dead_letters_waiting_idx on notify.dead_letters (received_at) where replayed_at is null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists notify.dead_letters_waiting_idx`.execute(db);
  await sql`alter table notify.dead_letters drop column if exists replayed_at`.execute(db);
}
