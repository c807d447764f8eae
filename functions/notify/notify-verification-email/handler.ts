import { EMAIL_VERIFICATION_REQUESTED } from '../../contracts/events/account-email-events.js';
import { accountEmailHandler, tokenEmail } from '../account-email.js';
import { buildVerificationEmail } from './email.js';

/**
 * Emails the link that verifies the address, once per event id; nothing once the token has expired
 * (see `accountEmailHandler`). Throws to have the event delivered again.
 */
export const handle = accountEmailHandler(EMAIL_VERIFICATION_REQUESTED, tokenEmail('verification email', 'verification', buildVerificationEmail));
