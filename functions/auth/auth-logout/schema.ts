import { z } from 'zod';
import { refreshTokenField } from '../sessions.js';

export const logoutBody = z
  .strictObject({ refresh_token: refreshTokenField })
  .meta({ description: 'A refresh token of the session to end: the newest, or any earlier one of its session. Unknown fields are refused.' });

export type LogoutBody = z.output<typeof logoutBody>;
