/**
 * What the sign-in alert says about the device: a browser or program and a system, named from a
 * fixed list, found in the User-Agent (`Firefox on Linux`). Never the header itself: whoever signs
 * in writes it, and the alert goes to the account's address, which an account registered with
 * somebody else's address, or taken over, makes a stranger's inbox. So not one word of it reaches
 * the email, only our names for what it claims to be. The full header stays with the session.
 */

/** Browsers and programs, the more specific first (Edge and Opera also say Chrome, Chrome also says Safari). */
const PROGRAMS: readonly (readonly [RegExp, string])[] = [
  [/\bEdg(?:e|A|iOS)?\//, 'Edge'],
  [/\b(?:OPR|OPX|Opera)\//, 'Opera'],
  [/\bSamsungBrowser\//, 'Samsung Internet'],
  [/\b(?:Firefox|FxiOS)\//, 'Firefox'],
  [/\b(?:HeadlessChrome|Chrome|CriOS|Chromium)\//, 'Chrome'],
  [/\bSafari\//, 'Safari'],
  [/^curl\//, 'curl'],
  [/^Wget\//, 'Wget'],
  [/^python-requests\//, 'Python requests'],
  [/^Go-http-client\//, 'a Go program'],
  [/^okhttp\//, 'OkHttp'],
];

/** Systems, the more specific first (iPadOS says Mac OS X, Android says Linux). */
const SYSTEMS: readonly (readonly [RegExp, string])[] = [
  [/\b(?:iPhone|iPad|iPod)\b/, 'iOS'],
  [/\bAndroid\b/, 'Android'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bWindows\b/, 'Windows'],
  [/\b(?:Macintosh|Mac OS X)\b/, 'macOS'],
  [/\bLinux\b/, 'Linux'],
];

/** The first name whose pattern the text matches. */
function firstMatch(text: string, names: readonly (readonly [RegExp, string])[]): string | undefined {
  return names.find(([pattern]) => pattern.test(text))?.[1];
}

/**
 * The device of a sign-in as the alert names it, from its User-Agent: `Chrome on Windows`,
 * `Safari on iOS`, `curl`, `an unknown browser or app on Android`, `an unrecognised device`, or
 * `unknown` when there was none. Only these words, whatever the header holds.
 */
export function describeDevice(userAgent: string): string {
  const text = userAgent.trim();
  if (text === '') return 'unknown';
  const program = firstMatch(text, PROGRAMS);
  const system = firstMatch(text, SYSTEMS);
  if (program && system) return `${program} on ${system}`;
  if (program) return program;
  if (system) return `an unknown browser or app on ${system}`;
  return 'an unrecognised device';
}
