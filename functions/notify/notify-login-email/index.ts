import type { CloudEventV1 } from 'cloudevents';
import { readEventData } from '../../shared/events/event-data.js';
import { hasValidSignature } from '../../shared/events/event-signature.js';
import { catalogueEntry } from '../../contracts/events/catalogue.js';
import { USER_LOGIN_EVENT_TYPE } from '../../contracts/events/user-login-event.js';
import { specOf } from '../../inventory.js';
import { defineCloudEventFunction, type EventInput } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { handle, type LoginEmailInput } from './handler.js';

/**
 * The `user_login_event` contract, as the event catalogue gives it: its type, its dataschema (a
 * new data shape comes with a new one), its data, and its time (which the signature covers: the
 * age of the event is read from it).
 */
export function parseLoginEvent(event: CloudEventV1<unknown>): EventInput<LoginEmailInput> {
  const read = readEventData(event, catalogueEntry(USER_LOGIN_EVENT_TYPE));
  if (!read.ok) return read;
  const eventTime = new Date(event.time ?? Number.NaN);
  if (Number.isNaN(eventTime.getTime())) return { ok: false, reason: 'the event has no time' };
  return { ok: true, value: { ...read.value, eventTime } };
}

export const definition = defineCloudEventFunction(specOf('notify-login-email'), {
  input: async (event, deps) => {
    // A forged event (anyone in the cluster can post one to the broker or here) sends nothing.
    if (!(await hasValidSignature(event, deps.tokens))) return { ok: false, reason: 'not signed by auth-login' };
    return parseLoginEvent(event);
  },
  handle,
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
