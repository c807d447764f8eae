import type { OperationDoc } from '../../operation.js';
import { EXAMPLE_REFRESH_TOKEN, EXAMPLE_ROTATED_REFRESH_TOKEN, exampleTokens, SESSIONS_DESCRIPTION } from './auth-login.js';

/** auth-refresh in the API description. */
export const operation: OperationDoc = {
  description:
    'Trades a refresh token for a new access token and a new refresh token, without the password. The access token ' +
    "carries the session's user, with the user's role and token version as they are stored now. The refresh token " +
    'sent is spent: keep the new one for the next refresh (rotation). A refresh emits no `user_login_event`: it ' +
    `sends no sign-in alert.\n\n${SESSIONS_DESCRIPTION}\n\n` +
    'Two refreshes with one token at the same time run one after the other: the second presents a spent token, so ' +
    'the session ends, and the token the first received stops working too. Refresh one token once.',
  requestBody: {
    component: 'RefreshRequest',
    examples: { refresh: { summary: "Ada's refresh token", value: { refresh_token: EXAMPLE_REFRESH_TOKEN } } },
  },
  invalidInput: { refresh_token: '', remember: true },
  answers: {
    200: {
      description: 'A new access token, its lifetime in seconds, and the next refresh token of the session. Never cached (`no-store`).',
      body: { component: 'TokenResponse', examples: { tokens: { summary: "Ada's new tokens", value: exampleTokens(EXAMPLE_ROTATED_REFRESH_TOKEN) } } },
    },
  },
  problems: {
    401:
      'The refresh token is refused: unknown, already used (its session has now ended: reuse detection), its session ' +
      'unused for longer than 30 days or started more than 90 days ago, its session started before a password ' +
      'change or reset or a role change it raced, or its session ended (logout, a password change or reset, a role ' +
      'change, the account deleted). The same answer for each: sign in again.',
  },
};
