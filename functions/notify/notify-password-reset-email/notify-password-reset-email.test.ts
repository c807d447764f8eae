import { describe } from 'vitest';
import { PASSWORD_RESET_REQUESTED } from '../../contracts/events/account-email-events.js';
import { describeAccountEmailFunction, describeTokenEmailText } from '../../../test/support/account-email-testing.js';
import { buildPasswordResetEmail, PASSWORD_RESET_EMAIL_SUBJECT } from './email.js';
import { definition } from './index.js';

// A reset may be asked for any registered address, verified or not, and whoever registered it chose the name.
describe('the password reset email', () => {
  describeTokenEmailText(buildPasswordResetEmail, {
    action: 'reset-password',
    expiresAt: '2026-11-26T15:03:07Z',
    subject: 'Reset your password',
    says: ['expire in 1 hour, on Thursday, 26 November 2026, 15:03:07 UTC', 'If you did not ask for this, ignore this email: your password is unchanged.'],
  });
});

describeAccountEmailFunction(definition, PASSWORD_RESET_REQUESTED, {
  subject: PASSWORD_RESET_EMAIL_SUBJECT,
  messageKind: 'password-reset',
  recipient: (sealed) => sealed.email,
  link: { action: 'reset-password', says: ['your password is unchanged'] },
});
