import { describe } from 'vitest';
import { EMAIL_VERIFICATION_REQUESTED } from '../../contracts/events/account-email-events.js';
import { describeAccountEmailFunction, describeTokenEmailText } from '../../../test/support/account-email-testing.js';
import { buildVerificationEmail, VERIFICATION_EMAIL_SUBJECT } from './email.js';
import { definition } from './index.js';

describe('the verification email', () => {
  describeTokenEmailText(buildVerificationEmail, {
    action: 'verify-email',
    expiresAt: '2026-11-27T14:03:07Z',
    subject: 'Confirm your email address',
    says: ['Confirm your email address (ada@example.com)', 'expire in 24 hours, on Friday, 27 November 2026, 14:03:07 UTC', 'If you did not ask for this, ignore this email'],
  });
});

describeAccountEmailFunction(definition, EMAIL_VERIFICATION_REQUESTED, {
  subject: VERIFICATION_EMAIL_SUBJECT,
  messageKind: 'verification',
  recipient: (sealed) => sealed.email,
  link: { action: 'verify-email', says: ['If you did not ask for this, ignore this email'] },
});
