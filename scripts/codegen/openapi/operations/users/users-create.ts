import { toUserResource } from '../../../../../functions/users/user.js';
import { ALAN } from '../../examples.js';
import type { OperationDoc } from '../../operation.js';

/** users-create in the API description. */
export const operation: OperationDoc = {
  description:
    'Registers an account with the `user` role; anyone may call it. The password is hashed with bcrypt and never ' +
    'shown again. Emails are unique without regard to case: a taken email answers 409, also when two registrations ' +
    'race for it. Each client address may attempt `REGISTRATIONS_PER_CLIENT` registrations (default 10) per ' +
    '`REGISTRATION_WINDOW_SECONDS` (default an hour), taken emails included; past that, 429 with `Retry-After`.',
  requestBody: {
    component: 'CreateUserRequest',
    examples: {
      register: {
        summary: 'Alan registers',
        value: { email: ALAN.record.email, password: ALAN.password, name: ALAN.record.name, surname: ALAN.record.surname },
      },
    },
  },
  invalidInput: { email: 'nope', password: 'short', name: 'Ada' },
  answers: {
    201: {
      description: 'Registered: the new user, its path in `Location` and its version in `ETag`.',
      body: { component: 'User', examples: { created: { summary: 'Alan, registered', value: toUserResource(ALAN.record) } } },
    },
  },
  problems: {
    409: 'An account with this email already exists (compared without regard to case).',
    429: 'Too many registrations from this client address within the window: `Retry-After` says when the oldest counted one leaves it.',
  },
};
