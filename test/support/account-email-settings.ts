import { createLogger } from '../../functions/shared/logging.js';
import { accountEmailSettingsOf, type AccountEmailSettings } from '../../functions/users/account-emails.js';

/**
 * The account email settings a users function would have, for tests that write the emails
 * themselves: the default lifetimes, no cap in reach, logs dropped.
 */
export function testAccountEmailSettings(sealKey: Uint8Array, now: Date, source = '/tests'): AccountEmailSettings {
  return accountEmailSettingsOf(
    { EVENT_SEAL_KEY: sealKey, EMAIL_VERIFICATION_TTL_SECONDS: 86_400, PASSWORD_RESET_TTL_SECONDS: 3_600, VERIFICATION_EMAILS_PER_ADDRESS: 1_000 },
    source,
    now,
    createLogger({ service: 'tests', revision: 'tests', write: () => undefined }),
  );
}
