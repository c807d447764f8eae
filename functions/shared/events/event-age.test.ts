import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkEventAge, FUTURE_SKEW_MS, REPLAY_MARGIN_MS, replayWindowMs } from './event-age.js';

const NOW = new Date('2026-12-01T12:00:00Z');
const DAY_MS = 86_400_000;
const at = (msFromNow: number) => new Date(NOW.getTime() + msFromNow);

describe('checkEventAge', () => {
  it.each([
    ['now', 0, 'fresh'],
    ['89 days ago', -89 * DAY_MS, 'fresh'],
    ['on the edge of the window (90 days less the margin)', -(90 * DAY_MS - REPLAY_MARGIN_MS), 'fresh'],
    ['a millisecond past it', -(90 * DAY_MS - REPLAY_MARGIN_MS) - 1, 'too-old'],
    ['90 days ago', -90 * DAY_MS, 'too-old'],
    ['as far ahead as the skew allows', FUTURE_SKEW_MS, 'fresh'],
    ['further ahead', FUTURE_SKEW_MS + 1, 'in-the-future'],
  ] as const)('takes an event of %s (%i ms from now) as %s (RETENTION_DAYS 90)', (_case, offset, expected) => {
    expect(checkEventAge(at(offset), NOW, 90)).toBe(expected);
  });

  it('never takes an event without a valid time', () => {
    expect(checkEventAge(new Date(Number.NaN), NOW, 90)).toBe('too-old');
  });

  it('keeps a window for the shortest retention period', () => {
    expect(replayWindowMs(1)).toBe(DAY_MS - REPLAY_MARGIN_MS);
    expect(checkEventAge(at(-12 * 3_600_000), NOW, 1)).toBe('fresh');
  });

  // The boundary: a delivery record is written (by the database's clock) when the event is first
  // taken, and pruned once RETENTION_DAYS have passed by that clock; a copy taken later, by another
  // pod whose clock differs from the database's by a minute either way, must find it.
  it('takes no copy of an event once the record of its first delivery can have been pruned', () => {
    const minute = 60_000;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3_650 }),
        // Near the edges: an event from the last hours or dated a little ahead, a copy around the prune.
        fc.integer({ min: -3 * 60 * minute, max: 10 * minute }),
        fc.integer({ min: -3 * 60 * minute, max: 3 * 60 * minute }),
        fc.integer({ min: -minute, max: minute }),
        fc.integer({ min: -minute, max: minute }),
        (retentionDays, eventOffset, aroundPrune, firstPodOffset, laterPodOffset) => {
          const eventTime = at(eventOffset);
          if (checkEventAge(eventTime, NOW, retentionDays) !== 'fresh') return;
          const recordedAt = NOW.getTime() + firstPodOffset;
          const copyAt = new Date(NOW.getTime() + retentionDays * DAY_MS + aroundPrune);
          const pruned = copyAt.getTime() + laterPodOffset - recordedAt > retentionDays * DAY_MS;
          if (pruned) expect(checkEventAge(eventTime, copyAt, retentionDays)).not.toBe('fresh');
        },
      ),
      { numRuns: 2_000 },
    );
  });
});
