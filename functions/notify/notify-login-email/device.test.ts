import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeDevice } from './device.js';

describe('describeDevice', () => {
  it.each([
    ['Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0', 'Firefox on Linux'],
    ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36', 'Chrome on Windows'],
    ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36 Edg/140.0.0.0', 'Edge on Windows'],
    ['Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Safari/605.1.15', 'Safari on macOS'],
    ['Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1', 'Safari on iOS'],
    ['Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/140.0 Mobile/15E148 Safari/604.1', 'Chrome on iOS'],
    ['Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Mobile Safari/537.36', 'Chrome on Android'],
    ['Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/27.0 Chrome/125.0 Mobile Safari/537.36', 'Samsung Internet on Android'],
    ['Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36', 'Chrome on ChromeOS'],
    ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36 OPR/120.0.0.0', 'Opera on Windows'],
    ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36', 'Chrome on Linux'],
    ['curl/8.5.0', 'curl'],
    ['python-requests/2.32.3', 'Python requests'],
    ['MyApp/3.1 (Android 14)', 'an unknown browser or app on Android'],
    ['e2e-browser/2.0', 'an unrecognised device'],
    ['Visit https://evil.example to claim your prize', 'an unrecognised device'],
    ['', 'unknown'],
    ['   ', 'unknown'],
  ])('names %j as %j', (userAgent, expected) => {
    expect(describeDevice(userAgent)).toBe(expected);
  });

  it('answers only words of its own, whatever the header holds', () => {
    const vocabulary = /^(unknown|an unrecognised device|an unknown browser or app on [A-Za-z]+|[A-Za-z ]+( on [A-Za-z]+)?)$/;
    const own = new Set(['Edge', 'Opera', 'Samsung Internet', 'Firefox', 'Chrome', 'Safari', 'curl', 'Wget', 'Python requests', 'a Go program', 'OkHttp']);
    const systems = new Set(['iOS', 'Android', 'ChromeOS', 'Windows', 'macOS', 'Linux']);
    fc.assert(
      fc.property(fc.string({ maxLength: 512 }), fc.constantFrom('', 'Chrome/1 ', 'Windows ', 'Android '), (text, prefix) => {
        const described = describeDevice(`${prefix}${text}`);
        expect(described).toMatch(vocabulary);
        const [program, system] = described.split(' on ');
        if (described.startsWith('an unknown browser or app on ')) expect(systems.has(system as string)).toBe(true);
        else if (!['unknown', 'an unrecognised device'].includes(described)) {
          expect(own.has(program as string)).toBe(true);
          if (system !== undefined) expect(systems.has(system)).toBe(true);
        }
      }),
    );
  });
});
