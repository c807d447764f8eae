import { sql, type Kysely } from 'kysely';

// Dead letters only of events this system published, once each (expand):
// - notify.dead_letters keeps one dead letter per event id: a replayed copy adds nothing, so a
//   flood of copies of a genuine event cannot fill the disk. Copies already kept are folded into
//   the first one (the table was a log until now); until notify-dead-letter is promoted, its
//   previous revision answers 5xx to a second copy of an event (one that is kept already).
// - accounts_published_event(): the outbox row of an event id, the record of every event this
//   system published, so notify-dead-letter keeps only events that match one, with no right on
//   auth.outbox itself.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    delete from notify.dead_letters later using notify.dead_letters earlier
      where later.event_id = earlier.event_id and later.id > earlier.id`.execute(db);
  await sql`create unique index dead_letters_event_idx on notify.dead_letters (event_id)`.execute(db);

  await sql`
    create or replace function public.accounts_published_event(published_id uuid) returns table (event jsonb, created_at timestamptz)
      language sql stable security definer set search_path = pg_catalog, public
      as $$ select o.event, o.created_at from auth.outbox o where o.id = published_id $$`.execute(db);
  await sql`revoke all on function public.accounts_published_event(uuid) from public`.execute(db);
  await sql`grant execute on function public.accounts_published_event(uuid) to accounts_notify`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop function if exists public.accounts_published_event(uuid)`.execute(db);
  await sql`drop index if exists notify.dead_letters_event_idx`.execute(db);
}
