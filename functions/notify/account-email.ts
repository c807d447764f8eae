import type { CloudEventV1 } from 'cloudevents';
import {
  openAccountEmailEvent,
  type AccountEmailEventType,
  type OpenedAccountEmailEvent,
  type SealedContent,
} from '../contracts/events/account-email-events.js';
import { eventConsumedBy, type ConsumerName, type EventTypeConsumedBy } from '../contracts/events/catalogue.js';
import type { EventInput, EventOutcome, Handle } from '../shared/runtime/definition.js';
import { deliverEmailOnce, type EmailDeliveryDeps } from './email-delivery.js';
import type { OutgoingEmail } from './email-text.js';

/**
 * The account email functions (notify-verification-email, notify-password-reset-email,
 * notify-email-changed-email) are this one piece of code: open the sealed event of the type the
 * catalogue brings the function, then send its email once per event id (`deliverEmailOnce`). What
 * differs per type is the email, given by each function's handler.ts.
 */

/** One kind of account email: what it is called, to whom it goes, what it says and how long it is good for. */
export interface AccountEmail<T extends AccountEmailEventType, Deps> {
  /** Names the email in logs and errors, e.g. `verification email`. */
  readonly label: string;
  /** The first part of its Message-ID, and its kind in the metrics, e.g. `verification`. */
  readonly messageKind: string;
  readonly recipient: (content: SealedContent<T>) => string;
  /** The email, from the sealed content and what the function was given. Pure. */
  readonly compose: (content: SealedContent<T>, deps: Deps) => OutgoingEmail;
  /** When what the email offers (a link, a code) stops working: an event delivered later sends nothing. */
  readonly expiresAt?: (content: SealedContent<T>) => Date;
}

/** A function's input: an opened account email event of its type. */
export type AccountEmailInput<T extends AccountEmailEventType> = OpenedAccountEmailEvent<T>;

/**
 * The `handle(deps, input)` of an account email function: the email of this kind for the opened
 * event, once per event id. Resolves to acknowledge the event; throws (after recording the
 * attempt) to have it delivered again.
 */
export function accountEmailHandler<T extends AccountEmailEventType, Deps>(
  type: T,
  email: AccountEmail<T, Deps>,
): Handle<EmailDeliveryDeps & Deps, AccountEmailInput<T>, EventOutcome> {
  return async (deps, input) => {
    const { eventId, userId, content, issuedAt } = input;
    const expiresAt = email.expiresAt?.(content);
    return deliverEmailOnce(deps, {
      eventId,
      eventType: type,
      eventTime: issuedAt,
      userId,
      recipient: email.recipient(content),
      email: email.compose(content, deps),
      label: email.label,
      messageKind: email.messageKind,
      ...(expiresAt ? { expiresAt } : {}),
    });
  };
}

/** What an email with a link to the links page needs (ACCOUNT_LINKS_URL, the `links` section). */
export interface LinkEmailDeps {
  readonly config: { readonly ACCOUNT_LINKS_URL: string };
  readonly now: () => Date;
}

/** The events whose email carries a token (a link, and the code alone on its line). */
type TokenEmailType = { [T in AccountEmailEventType]: SealedContent<T> extends { readonly token: string; readonly expiresAt: string } ? T : never }[AccountEmailEventType];

/**
 * An email that carries a token to the address in the content: a link to the links page, good
 * until the token expires. `build` writes it from the content, the links page and the time now.
 */
export function tokenEmail(
  label: string,
  messageKind: string,
  build: (content: SealedContent<TokenEmailType>, linksUrl: string, now: Date) => OutgoingEmail,
): AccountEmail<TokenEmailType, LinkEmailDeps> {
  return {
    label,
    messageKind,
    recipient: (content) => content.email,
    compose: (content, deps) => build(content, deps.config.ACCOUNT_LINKS_URL, deps.now()),
    expiresAt: (content) => new Date(content.expiresAt),
  };
}

/** The functions the catalogue brings an account email event. */
export type AccountEmailFunction = {
  [N in ConsumerName]: [EventTypeConsumedBy<N>] extends [never] ? never : EventTypeConsumedBy<N> extends AccountEmailEventType ? N : never;
}[ConsumerName];

/**
 * The input of an account email function: the event of the type the catalogue brings it, its
 * sealed content opened with EVENT_SEAL_KEY. An event that does not open (forged, altered, sealed
 * for another event or type) is acknowledged and sends nothing.
 */
export function accountEmailInput<Name extends AccountEmailFunction>(
  name: Name,
): (event: CloudEventV1<unknown>, deps: { readonly config: { readonly EVENT_SEAL_KEY: Uint8Array } }) => Promise<EventInput<AccountEmailInput<Extract<EventTypeConsumedBy<Name>, AccountEmailEventType>>>> {
  const entry = eventConsumedBy(name);
  if (entry?.authenticity.kind !== 'sealed') throw new Error(`${name}: the event catalogue brings it no sealed account email event`);
  const type = entry.type as Extract<EventTypeConsumedBy<Name>, AccountEmailEventType>;
  return (event, deps) => openAccountEmailEvent(event, type, deps.config.EVENT_SEAL_KEY);
}
