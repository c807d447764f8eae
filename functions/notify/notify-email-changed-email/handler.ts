import { EMAIL_CHANGED } from '../../contracts/events/account-email-events.js';
import { accountEmailHandler } from '../account-email.js';
import { buildEmailChangedEmail } from './email.js';

/**
 * Tells the previous address that the account's email changed, once per event id (see
 * `accountEmailHandler`). Throws to have the event delivered again.
 */
export const handle = accountEmailHandler(EMAIL_CHANGED, {
  label: 'email changed notice',
  messageKind: 'email-changed',
  recipient: (content) => content.previousEmail,
  compose: (content) => buildEmailChangedEmail(content),
});
