/**
 * True when an `If-Match` / `If-None-Match` header lists the current tag (or `*`). Weak tags
 * compare by their opaque part, as RFC 9110's weak comparison does for If-None-Match.
 */
export function etagMatches(header: string, currentTag: string): boolean {
  return header
    .split(',')
    .map((tag) => tag.trim().replace(/^W\//, ''))
    .some((tag) => tag === '*' || tag === currentTag);
}
