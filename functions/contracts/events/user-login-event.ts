import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { StoredEvent } from '../../shared/events/publisher.js';

/**
 * `user_login_event`: the contract between auth-login (producer) and the notify functions
 * (consumers). A new data shape gets a new `dataschema` version; consumers check both.
 */
export const USER_LOGIN_EVENT_TYPE = 'user_login_event';
export const USER_LOGIN_EVENT_DATASCHEMA = 'https://knative-accounts.dev/schemas/events/user_login_event/v1.json';

export const userLoginEventData = z
  .strictObject({
    userId: z.uuid().meta({ description: 'The user who signed in.' }),
    email: z.email().meta({ description: 'Where the alert goes.' }),
    name: z.string().min(1).max(100).meta({ description: 'The name the alert greets.' }),
    signedInAt: z.iso.datetime({ offset: true }).meta({ description: 'When the sign-in happened.' }),
    clientAddress: z.string().max(100).meta({ description: 'The network address the sign-in came from, as the first trusted proxy saw it.' }),
    userAgent: z.string().max(512).meta({ description: 'The User-Agent of the sign-in request (cut to 512 characters).' }),
  })
  .meta({ description: 'The data of a `user_login_event`: only what the alert email shows; never a password, hash or token.' });

export type UserLoginEventData = z.output<typeof userLoginEventData>;

/**
 * Never a password, hash or token: only what the alert email shows. `traceparent` (the
 * CloudEvents distributed tracing extension) links the event to the sign-in request.
 */
export function buildUserLoginEvent(
  source: string,
  data: UserLoginEventData,
  options: { id?: string; traceparent?: string } = {},
): StoredEvent {
  return {
    ...(options.traceparent ? { traceparent: options.traceparent } : {}),
    specversion: '1.0',
    id: options.id ?? randomUUID(),
    type: USER_LOGIN_EVENT_TYPE,
    source,
    subject: data.userId,
    time: data.signedInAt,
    datacontenttype: 'application/json',
    dataschema: USER_LOGIN_EVENT_DATASCHEMA,
    data,
  };
}
