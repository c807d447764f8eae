/**
 * Rules for text that people send and Postgres stores. A `text` column refuses U+0000, and the
 * driver encodes a lone surrogate (half of a UTF-16 pair, which JSON's `\ud800` escapes can carry)
 * as U+FFFD, silently storing something other than what was sent: both are refused at the edge.
 */

/** Unicode's control characters (category Cc: U+0000–U+001F, U+007F–U+009F) and the line and paragraph separators. */
const CONTROL_OR_LINE_BREAK = /[\p{Cc}\u2028\u2029]/u;

/** True when Postgres stores the text exactly as given: no U+0000 and no lone surrogate. */
export function isStorableText(value: string): boolean {
  return !value.includes('\u0000') && value.isWellFormed();
}

/** True when the text holds a control character or a line break (so it cannot add lines to an email, a log or a header). */
export function hasControlCharacters(value: string): boolean {
  return CONTROL_OR_LINE_BREAK.test(value);
}

/** Characters as people count them (code points), not UTF-16 units: an emoji is one. */
export function characterCount(value: string): number {
  return [...value].length;
}

/** The text on one line: every control character and line break becomes a space. */
export function toSingleLine(value: string): string {
  return value.replace(new RegExp(CONTROL_OR_LINE_BREAK.source, 'gu'), ' ');
}
