/**
 * How old an event may be for a consumer to act on it. A consumer remembers the events it handled
 * (notify.deliveries, notify.dead_letters) for RETENTION_DAYS; a genuine event delivered again
 * after that record is pruned would be handled again (a second email). So an event is taken only
 * while its record cannot have been pruned yet: its authenticated time (signed or sealed, never
 * the bare `time` attribute) must be within the retention period less a margin, and not ahead of
 * the consumer's clock by more than a little skew.
 *
 * Why the margin suffices: a record is written when the event is first handled (at or after the
 * event's time less FUTURE_SKEW_MS) and pruned once the database's clock is RETENTION_DAYS past
 * it. A later copy is taken only while the consumer's clock is within RETENTION_DAYS − margin of
 * the event's time. With margin > FUTURE_SKEW_MS + twice the clock difference between the pods
 * and the database (seconds under NTP), no event is both pruned and taken.
 */

/** Taken off the retention period: covers the skew below, the pods' clock drift and the prune schedule. */
export const REPLAY_MARGIN_MS = 60 * 60 * 1000;

/** How far ahead of the consumer's clock an event's time may be (producers' clocks drift a little). */
export const FUTURE_SKEW_MS = 5 * 60 * 1000;

const DAY_MS = 24 * 60 * 60 * 1000;

/** `fresh`: act on it; `too-old`: its record may be pruned; `in-the-future`: its time is ahead of any drift. */
export type EventAge = 'fresh' | 'too-old' | 'in-the-future';

/** The longest an event may have existed for a consumer to act on it, for a retention period of `retentionDays`. */
export function replayWindowMs(retentionDays: number): number {
  return retentionDays * DAY_MS - REPLAY_MARGIN_MS;
}

/** Whether an event of authenticated time `time` may be acted on at `now`; an invalid time is never fresh. */
export function checkEventAge(time: Date, now: Date, retentionDays: number): EventAge {
  const at = time.getTime();
  if (Number.isNaN(at)) return 'too-old';
  if (at > now.getTime() + FUTURE_SKEW_MS) return 'in-the-future';
  if (at < now.getTime() - replayWindowMs(retentionDays)) return 'too-old';
  return 'fresh';
}
