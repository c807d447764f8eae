import { Document, Pair, Scalar, YAMLMap, YAMLSeq, type Node } from 'yaml';

/**
 * The manifests as YAML text, written by the `yaml` library: objects built as plain data, with a
 * comment (`noted`) wherever a reader of the file needs the why. Kubernetes reads YAML 1.1, so the
 * text is written under 1.1's rules: a string such as "on", "yes" or "1:20" comes out quoted.
 */

const NOTE = Symbol('note');

/** A value with a comment above it: above its key in a mapping, above its item in a list. */
export interface Noted<T = unknown> {
  readonly [NOTE]: string;
  readonly value: T;
}

/** `value`, with `note` (one comment line per line of it) above it in the YAML text. */
export function noted<T>(note: string, value: T): Noted<T> {
  return { [NOTE]: note, value };
}

function isNoted(value: unknown): value is Noted {
  return typeof value === 'object' && value !== null && NOTE in value;
}

/** The data as the cluster reads it: without the notes, and without the keys whose value is undefined. */
export function withoutNotes(value: unknown): unknown {
  if (isNoted(value)) return withoutNotes(value.value);
  if (Array.isArray(value)) return value.map(withoutNotes);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, inner]) => inner !== undefined)
        .map(([key, inner]) => [key, withoutNotes(inner)]),
    );
  }
  return value;
}

/** A comment as the library writes it: `#` then the text, so each line gets its space. */
const commentText = (lines: string): string =>
  lines
    .split('\n')
    .map((line) => ` ${line}`)
    .join('\n');

function toNode(value: unknown): { node: Node; note?: string } {
  if (isNoted(value)) return { node: toNode(value.value).node, note: value[NOTE] };
  if (Array.isArray(value)) {
    const seq = new YAMLSeq();
    for (const item of value) {
      const { node, note } = toNode(item);
      if (note !== undefined) node.commentBefore = commentText(note);
      seq.items.push(node);
    }
    return { node: seq };
  }
  if (typeof value === 'object' && value !== null) {
    const map = new YAMLMap();
    for (const [key, inner] of Object.entries(value)) {
      if (inner === undefined) continue;
      const { node, note } = toNode(inner);
      const keyNode = new Scalar(key);
      if (note !== undefined) keyNode.commentBefore = commentText(note);
      map.items.push(new Pair(keyNode, node));
    }
    return { node: map };
  }
  return { node: new Scalar(value) };
}

/** The object as one YAML document, `header` (comment lines) on top; keys whose value is undefined are left out. */
export function yamlText(object: Readonly<Record<string, unknown>>, header: readonly string[]): string {
  const document = new Document(null, { version: '1.1' });
  const { node } = toNode(object);
  if (header.length > 0) node.commentBefore = commentText(header.join('\n'));
  document.contents = node;
  return document.toString({ lineWidth: 0 });
}
