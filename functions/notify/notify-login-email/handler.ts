import type { EventOutcome } from '../../shared/runtime/definition.js';
import { USER_LOGIN_EVENT_TYPE, type UserLoginEventData } from '../../contracts/events/user-login-event.js';
import { deliverEmailOnce, type EmailDeliveryDeps } from '../email-delivery.js';
import { buildLoginEmail } from './email.js';

export type NotifyLoginEmailDeps = EmailDeliveryDeps;

/** One sign-in to tell the user about: the event's id keys the delivery, so each event is emailed once. */
export interface LoginEmailInput {
  readonly eventId: string;
  /** The event's `time`, covered by auth-login's signature. */
  readonly eventTime: Date;
  readonly data: UserLoginEventData;
}

/**
 * Emails the user about a sign-in, once per event id (see `deliverEmailOnce`). Resolves to
 * acknowledge the event; throws MailUnavailableError (after recording the attempt) to have it
 * delivered again.
 */
export async function handle(deps: NotifyLoginEmailDeps, input: LoginEmailInput): Promise<EventOutcome> {
  const { eventId, eventTime, data } = input;
  return deliverEmailOnce(deps, {
    eventId,
    eventType: USER_LOGIN_EVENT_TYPE,
    eventTime,
    userId: data.userId,
    recipient: data.email,
    email: buildLoginEmail(data),
    label: 'login email',
    messageKind: 'login-alert',
  });
}
