import { PASSWORD_RESET_REQUESTED } from '../../contracts/events/account-email-events.js';
import { accountEmailHandler, tokenEmail } from '../account-email.js';
import { buildPasswordResetEmail } from './email.js';

/**
 * Emails the link that resets the password, once per event id; nothing once the token has expired
 * (see `accountEmailHandler`). Throws to have the event delivered again.
 */
export const handle = accountEmailHandler(PASSWORD_RESET_REQUESTED, tokenEmail('password reset email', 'password-reset', buildPasswordResetEmail));
