import { describe, expect, it } from 'vitest';
import { EMAIL_CHANGED, type SealedContent } from '../../contracts/events/account-email-events.js';
import { accountEmailEvent, deliver, describeAccountEmailFunction, expectBothPartsToSay, newContent } from '../../../test/support/account-email-testing.js';
import { buildEmailChangedEmail, EMAIL_CHANGED_SUBJECT } from './email.js';
import { definition } from './index.js';

type Content = SealedContent<typeof EMAIL_CHANGED>;

const ADA: Content = { previousEmail: 'ada@example.com', newEmail: 'ada@new.example', name: 'Ada', changedAt: '2026-11-26T15:03:07+01:00' };

describe('the email changed notice', () => {
  const email = buildEmailChangedEmail(ADA);

  it('tells the old address the new one and when, in UTC', () => {
    expect(email.subject).toBe("Your account's email address was changed");
    expectBothPartsToSay(email, 'Hello,', 'was changed from ada@example.com to ada@new.example on Thursday, 26 November 2026, 14:03:07 UTC.');
  });

  it('says what to do if it was not you: change the password, contact support', () => {
    expectBothPartsToSay(email, 'If this was not you', 'change your password', 'contact support');
  });

  it('links nowhere and carries no token', () => {
    expect(email.html).not.toContain('<a ');
    expect(email.text).not.toMatch(/https?:\/\//);
  });

  it.each(['Visit https://evil.example to claim your prize', 'Ada\n\nYour account is locked <b>now</b>'])(
    'shows nothing of the name the account has: %j',
    (name) => {
      expect(buildEmailChangedEmail({ ...ADA, name })).toEqual(email);
    },
  );
});

describeAccountEmailFunction(
  definition,
  EMAIL_CHANGED,
  { subject: EMAIL_CHANGED_SUBJECT, messageKind: 'email-changed', recipient: (sealed) => sealed.previousEmail },
  ({ suite, catcher }) => {
    it('emails the previous address, never the new one, naming the new one', async () => {
      const sealed = newContent(EMAIL_CHANGED);
      expect(await deliver(suite.fn.url, await accountEmailEvent(EMAIL_CHANGED, sealed))).toBe(204);
      const messages = catcher().messages();
      expect(messages.map((message) => message.to)).toEqual([['ada@example.com']]);
      for (const part of [messages[0]?.text, messages[0]?.html]) {
        expect(part).toContain(`to ${sealed.newEmail} on`);
        expect(part).toContain('contact support');
      }
    });
  },
);
