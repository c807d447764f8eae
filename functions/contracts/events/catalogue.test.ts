import { describe, expect, expectTypeOf, it } from 'vitest';
import { INVENTORY } from '../../inventory.js';
import { EMAIL_CHANGED, type EMAIL_VERIFICATION_REQUESTED, type SealedContent } from './account-email-events.js';
import {
  catalogueEntry,
  EVENT_CATALOGUE,
  eventConsumedBy,
  eventPublishers,
  eventSourceText,
  OUTBOX_RELAY,
  type EventDataOf,
  type EventTypeConsumedBy,
} from './catalogue.js';
import type { USER_LOGIN_EVENT_TYPE, UserLoginEventData } from './user-login-event.js';

/**
 * The catalogue against the inventory: every function it names exists and is the kind it needs to
 * be, each CloudEvent function is fed by one thing, and exactly the publishers get K_SINK.
 */

const spec = (name: string) => INVENTORY.find((candidate) => candidate.name === name);
const distinct = (values: readonly string[]) => new Set(values).size === values.length;

describe('the event catalogue', () => {
  it('lists each event type, dataschema and Trigger once', () => {
    expect(distinct(EVENT_CATALOGUE.map((entry) => entry.type))).toBe(true);
    expect(distinct(EVENT_CATALOGUE.map((entry) => entry.dataschema))).toBe(true);
    expect(distinct(EVENT_CATALOGUE.flatMap((entry) => entry.consumers.map((consumer) => consumer.trigger)))).toBe(true);
    for (const entry of EVENT_CATALOGUE) expect(entry.consumers.length, `${entry.type} has a consumer`).toBeGreaterThan(0);
  });

  it('names CloudEvent functions of the inventory as consumers and dead-letter sinks, each consuming one type', () => {
    for (const entry of EVENT_CATALOGUE) {
      for (const consumer of entry.consumers) expect(spec(consumer.function)?.trigger, consumer.function).toBe('cloudevent');
      expect(spec(entry.delivery.deadLetterSink)?.trigger, entry.delivery.deadLetterSink).toBe('cloudevent');
    }
    const consumers = EVENT_CATALOGUE.flatMap((entry) => entry.consumers.map((consumer) => consumer.function));
    expect(distinct(consumers), 'a function takes one event type').toBe(true);
  });

  it('feeds every CloudEvent function from one place: a Trigger of the catalogue, or what its inventory entry says', () => {
    for (const each of INVENTORY.filter((candidate) => candidate.trigger === 'cloudevent')) {
      const consumer = eventConsumedBy(each.name) !== undefined;
      const source = (each as { eventSource?: string }).eventSource;
      expect(consumer !== (source !== undefined), `${each.name}: a catalogue consumer or an eventSource, not both`).toBe(true);
      expect(eventSourceText(each), each.name).toBeDefined();
    }
    expect(eventSourceText({ name: 'notify-verification-email' })).toBe('Trigger on `email_verification_requested`');
  });

  it('gives K_SINK (the sink need) to exactly its publishers: the producers and the outbox relay', () => {
    const sink = INVENTORY.filter((each) => (each.needs as readonly string[]).includes('sink')).map((each) => each.name);
    expect(eventPublishers()).toEqual(sink.sort());
    expect(eventPublishers()).toContain(OUTBOX_RELAY);
    for (const producer of EVENT_CATALOGUE.flatMap((entry) => entry.producers)) expect(spec(producer), producer).toBeDefined();
  });

  it('types each consumer\'s event and each type\'s data from the entries', () => {
    expectTypeOf<EventTypeConsumedBy<'notify-verification-email'>>().toEqualTypeOf<typeof EMAIL_VERIFICATION_REQUESTED>();
    expectTypeOf<EventTypeConsumedBy<'notify-email-changed-email'>>().toEqualTypeOf<typeof EMAIL_CHANGED>();
    expectTypeOf<EventTypeConsumedBy<'users-get'>>().toEqualTypeOf<never>();
    expectTypeOf<EventDataOf<typeof USER_LOGIN_EVENT_TYPE>>().toEqualTypeOf<UserLoginEventData>();
    expect(catalogueEntry(EMAIL_CHANGED).authenticity.kind).toBe('sealed');
    const sealed = catalogueEntry(EMAIL_CHANGED).authenticity.content.parse({ previousEmail: 'a@example.com', newEmail: 'b@example.com', name: 'A', changedAt: '2026-11-27T09:30:00Z' });
    expectTypeOf(sealed).toEqualTypeOf<SealedContent<typeof EMAIL_CHANGED>>();
    expect(() => catalogueEntry('no_such_event' as never)).toThrow(/no type no_such_event/);
  });
});
