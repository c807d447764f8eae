import type { FieldError } from './problem.js';
import { decodeSegment } from './routes.js';
import { invalidFields, toPointer } from './validation.js';

/**
 * Parses a query string (without the `?`) strictly, the way the API documents it: `+` is a space,
 * every name and value is percent-encoded UTF-8, and a name appears at most once. Anything else
 * answers 400 naming the parameter, rather than being guessed at (a lenient decoder turns bad
 * bytes into U+FFFD, and a repeated name silently keeps one of its values).
 */
export function parseQueryString(search: string): Record<string, string> {
  const entries: [string, string][] = [];
  const errors: FieldError[] = [];
  const seen = new Set<string>();
  for (const part of search.split('&')) {
    if (part === '') continue;
    const separator = part.indexOf('=');
    const rawName = separator === -1 ? part : part.slice(0, separator);
    const name = decodeSegment(rawName.replaceAll('+', ' '));
    const value = decodeSegment((separator === -1 ? '' : part.slice(separator + 1)).replaceAll('+', ' '));
    if (name === undefined || value === undefined) {
      errors.push({ pointer: toPointer([name ?? rawName]), detail: 'is not percent-encoded UTF-8' });
    } else if (seen.has(name)) {
      errors.push({ pointer: toPointer([name]), detail: 'is given more than once' });
    } else {
      seen.add(name);
      entries.push([name, value]);
    }
  }
  if (errors.length > 0) {
    throw invalidFields('query', dedupe(errors));
  }
  // fromEntries defines own properties, so a parameter called `__proto__` stays a parameter
  // (and is refused as unknown) instead of reaching the object's prototype.
  return Object.fromEntries(entries);
}

function dedupe(errors: readonly FieldError[]): FieldError[] {
  const unique = new Map(errors.map((error) => [`${error.pointer}\u0000${error.detail}`, error]));
  return [...unique.values()];
}
