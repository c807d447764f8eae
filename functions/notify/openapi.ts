import type { DomainDoc } from '../openapi/operation.js';

/** The notify domain in the API description. */
export const domain: DomainDoc = {
  description: 'Sign-in alerts: the functions the broker delivers `user_login_event` to.',
};
