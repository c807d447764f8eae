import { specOf } from '../../inventory.js';
import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { AuthProblems } from '../errors.js';
import { TOKEN_ANSWERS, tokenAnswer } from '../token-answer.js';
import { handle } from './handler.js';
import { refreshBody } from './schema.js';

const DAY_MS = 86_400_000;

export const definition = defineHttpFunction(specOf('auth-refresh'), {
  deps: (shared) => ({ ...shared, idleMs: shared.config.SESSION_IDLE_DAYS * DAY_MS, maxAgeMs: shared.config.SESSION_MAX_DAYS * DAY_MS }),
  request: { body: refreshBody },
  answers: TOKEN_ANSWERS,
  problems: [AuthProblems.invalidRefreshToken],
  input: (request) => ({ refreshToken: request.body.refresh_token }),
  handle,
  output: tokenAnswer,
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
