import type { OperationDoc } from '../../operation.js';
import { EXAMPLE_REFRESH_TOKEN, SESSIONS_DESCRIPTION } from './auth-login.js';

/** auth-logout in the API description. */
export const operation: OperationDoc = {
  description:
    'Signs out: ends the session the refresh token belongs to, whether it is the newest refresh token of the session ' +
    'or an earlier one. No refresh token of that session works afterwards. Access tokens already issued stay valid ' +
    'until they expire (15 minutes by default): the client forgets them.\n\n' +
    'Idempotent, and no oracle: an unknown refresh token, or one whose session has already ended, answers the same 204.' +
    `\n\n${SESSIONS_DESCRIPTION}`,
  requestBody: {
    component: 'LogoutRequest',
    examples: { 'sign-out': { summary: 'Ada signs out', value: { refresh_token: EXAMPLE_REFRESH_TOKEN } } },
  },
  invalidInput: { token: 'abc' },
  answers: { 204: { description: 'The session has ended (or there was none to end). No body.' } },
};
