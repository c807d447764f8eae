import type { DomainDoc } from '../../operation.js';

/** The notify domain in the API description. */
export const domain: DomainDoc = {
  description:
    'Account emails: the functions the broker delivers `user_login_event` (sign-in alerts), `email_verification_requested`, ' +
    '`password_reset_requested` and `email_changed` to.',
};
