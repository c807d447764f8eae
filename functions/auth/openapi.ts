import type { DomainDoc } from '../openapi/operation.js';

/** The auth domain in the API description. */
export const domain: DomainDoc = {
  description: 'Sign-in: access tokens, the public keys that verify them, and the `user_login_event` each sign-in emits.',
};
