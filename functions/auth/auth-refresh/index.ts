import { requireJsonBody } from '../../shared/http/json-route.js';
import { parseInput } from '../../shared/http/validation.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { tokenAnswer } from '../token-answer.js';
import { handle } from './handler.js';
import { refreshBody } from './schema.js';

const DAY_MS = 86_400_000;

export const definition = defineHttpFunction({
  name: 'auth-refresh',
  deps: (shared) => ({ ...shared, idleMs: shared.config.SESSION_IDLE_DAYS * DAY_MS, maxAgeMs: shared.config.SESSION_MAX_DAYS * DAY_MS }),
  input: (request) => ({ refreshToken: parseInput(refreshBody, requireJsonBody(request), 'request body').refresh_token }),
  handle,
  output: tokenAnswer,
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
