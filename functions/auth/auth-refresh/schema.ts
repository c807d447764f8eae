import { z } from 'zod';
import { refreshTokenField } from '../sessions.js';

export const refreshBody = z
  .strictObject({ refresh_token: refreshTokenField })
  .meta({ description: 'The refresh token to trade (it works once). Unknown fields are refused.' });

export type RefreshBody = z.output<typeof refreshBody>;
