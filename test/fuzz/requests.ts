import fc from 'fast-check';
import type { RawRequest } from './raw-http.js';

/**
 * Requests for one operation of the OpenAPI document, generated from its schemas and beyond them:
 * values of the wrong type, at and past the boundaries, with control, non-BMP and lone-surrogate
 * characters; bodies that are not UTF-8, not JSON, deeply nested, with duplicate or `__proto__`
 * keys; odd paths, query strings, methods and headers. Every request is bytes on the wire.
 */

type Json = Record<string, any>;

export interface FuzzContext {
  /** `Authorization` values worth sending: valid for a user and an admin, expired, forged, for an unknown id. */
  readonly authorizations: readonly string[];
  /** Ids of users that exist when the run starts. */
  readonly userIds: readonly string[];
  /** ETags of those users (some will be stale by the time they are sent). */
  readonly etags: readonly string[];
  /** Emails and passwords that match, so sign-in and its checks are reached too. */
  readonly credentials: readonly { readonly email: string; readonly password: string }[];
}

export interface Operation {
  readonly path: string;
  readonly method: string;
  readonly operation: Json;
}

export interface FuzzCase {
  readonly request: RawRequest;
  /** The JSON value the body encodes, when it is one (to check what comes back against it). */
  readonly sentJson?: unknown;
}

/** Strings that have broken something somewhere: empty, blank, control characters, halves of UTF-16 pairs, boundaries, injection. */
const NASTY_STRINGS = [
  '',
  ' ',
  '   padded   ',
  '\u0000',
  'a\u0000b',
  '\u0007bell',
  'del\u007f',
  'line\nbreak',
  'carriage\r\nreturn',
  'tab\there',
  '\u0085next',
  'para\u2028graph\u2029',
  '\ud800',
  'lone\udc00low',
  'half\ud83d',
  '😀',
  '😀'.repeat(100),
  '😀'.repeat(101),
  'x'.repeat(100),
  'x'.repeat(101),
  'x'.repeat(254),
  'x'.repeat(255),
  'x'.repeat(5000),
  '\ufeffbom',
  'zero\u200bwidth',
  '\u202eevil',
  'e\u0301',
  '%',
  '%_\\',
  '../../etc/passwd',
  '<script>alert(1)</script>',
  "'; drop table users.users; --",
  '${jndi:ldap://x}',
  '__proto__',
  'constructor',
  'null',
  'true',
  '1e999',
  '-0',
  'ada@example.com',
  'ADA@EXAMPLE.COM',
  'not-an-email',
  'a@b',
  `${'a'.repeat(245)}@example.com`,
  '6f1c2b9e-8a44-4b7e-9d0a-1f2e3d4c5b6a',
  '00000000-0000-0000-0000-000000000000',
  'admin',
  'user',
  'root',
];

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code));
const controlCharacter = fc.oneof(fc.integer({ min: 0, max: 0x1f }), fc.integer({ min: 0x7f, max: 0x9f })).map((code) => String.fromCharCode(code));

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  {
    weight: 2,
    arbitrary: fc
      .array(fc.oneof(fc.string({ unit: 'grapheme', maxLength: 5 }), loneSurrogate, controlCharacter), { maxLength: 12 })
      .map((parts) => parts.join('')),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 90, maxLength: 120 }) },
);

/** Any JSON value, with the shapes that trip parsers and schemas up. */
export const hostileJson: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    hostileString,
    fc.integer(),
    fc.constantFrom(0, -0, 1, -1, 2 ** 31, 2 ** 53 + 1, -(2 ** 63), 1e308, 5e-324, 0.5, 201, 200, 1000000),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(hostileString, fc.constantFrom('__proto__', 'constructor', 'prototype')), tie('value'), { maxKeys: 4 }).map(ownKeys),
  ),
})).value;

/** A copy whose keys are all own data properties, so `__proto__` is serialized as a key like any other. */
function ownKeys(record: Record<string, unknown>): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) Object.defineProperty(copy, key, { value, enumerable: true, writable: true, configurable: true });
  return copy;
}

const simpleEmail = fc
  .tuple(fc.stringMatching(/^[a-z][a-z0-9.]{0,15}$/), fc.constantFrom('example.com', 'example.org', 'mail.test'))
  .map(([local, domain]) => `${local.replace(/\.+$/, '').replace(/\.\.+/g, '.')}@${domain}`);

/** An address no one has registered yet (almost surely). */
const freshEmail = fc.tuple(fc.stringMatching(/^[a-z0-9]{8}$/), simpleEmail).map(([prefix, email]) => `${prefix}.${email}`);

/** A value the schema accepts most of the time (a plausible request), or one just outside it. */
export function valueFor(schema: Json | undefined, document: Json, depth = 0): fc.Arbitrary<unknown> {
  const resolved = resolveRef(schema, document);
  if (!resolved || depth > 4) return hostileJson;
  if (Array.isArray(resolved['allOf']) && resolved['allOf'].length > 0) return valueFor(resolved['allOf'][0], document, depth + 1);
  for (const key of ['anyOf', 'oneOf']) {
    if (Array.isArray(resolved[key]) && resolved[key].length > 0) return fc.oneof(...resolved[key].map((option: Json) => valueFor(option, document, depth + 1)));
  }
  if (Array.isArray(resolved['enum'])) return fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...resolved['enum']) }, { weight: 1, arbitrary: hostileString });
  if ('const' in resolved) return fc.constant(resolved['const']);
  switch (resolved['type']) {
    case 'object':
      return objectFor(resolved, document, depth);
    case 'string':
      return stringFor(resolved);
    case 'integer': {
      const min = typeof resolved['minimum'] === 'number' ? resolved['minimum'] : -1000;
      const max = typeof resolved['maximum'] === 'number' ? resolved['maximum'] : 1000;
      return fc.oneof({ weight: 4, arbitrary: fc.integer({ min, max }) }, { weight: 1, arbitrary: fc.constantFrom(min - 1, max + 1, 0, -1, 1.5) });
    }
    case 'number':
      return fc.double({ noNaN: true, noDefaultInfinity: true });
    case 'boolean':
      return fc.boolean();
    case 'array':
      return fc.array(valueFor(resolved['items'], document, depth + 1), { maxLength: 3 });
    default:
      return hostileJson;
  }
}

function stringFor(schema: Json): fc.Arbitrary<string> {
  const minLength = typeof schema['minLength'] === 'number' ? schema['minLength'] : 0;
  const maxLength = typeof schema['maxLength'] === 'number' ? Math.min(schema['maxLength'], 120) : 40;
  switch (schema['format']) {
    case 'email':
      return fc.oneof({ weight: 4, arbitrary: simpleEmail }, { weight: 1, arbitrary: fc.emailAddress() });
    case 'uuid':
      return fc.uuid();
    case 'date-time':
      return fc.date({ noInvalidDate: true }).map((date) => date.toISOString());
    default:
      return fc.oneof(
        { weight: 3, arbitrary: fc.string({ unit: 'grapheme', minLength, maxLength: Math.max(minLength, maxLength) }) },
        { weight: 1, arbitrary: hostileString },
      );
  }
}

function objectFor(schema: Json, document: Json, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const properties = (schema['properties'] ?? {}) as Record<string, Json>;
  const required = new Set<string>((schema['required'] ?? []) as string[]);
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [name, property] of Object.entries(properties)) model[name] = valueFor(property, document, depth + 1);
  return fc.record(model, { requiredKeys: Object.keys(properties).filter((name) => required.has(name)) });
}

function resolveRef(schema: Json | undefined, document: Json): Json | undefined {
  let current = schema;
  for (let hops = 0; typeof current?.['$ref'] === 'string' && hops < 10; hops += 1) {
    const name = /^#\/components\/schemas\/(.+)$/.exec(current['$ref'])?.[1];
    current = name ? document['components']?.['schemas']?.[name] : undefined;
  }
  return current;
}

/** A plausible value with a few fields replaced by hostile ones, removed, or added. */
function mutated(value: fc.Arbitrary<unknown>, knownKeys: readonly string[]): fc.Arbitrary<unknown> {
  const key = fc.oneof(
    { weight: 4, arbitrary: knownKeys.length > 0 ? fc.constantFrom(...knownKeys) : hostileString },
    { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', 'role', 'password_hash', 'id', 'version') },
    { weight: 1, arbitrary: hostileString },
  );
  const change = fc.record({ key, action: fc.constantFrom('set', 'set', 'set', 'delete'), value: fc.oneof(hostileString, hostileJson) });
  const changes = fc.oneof(fc.constant([]), fc.array(change, { minLength: 1, maxLength: 3 }));
  return fc.tuple(value, changes).map(([base, changes]) => {
    if (typeof base !== 'object' || base === null || Array.isArray(base)) return base;
    const copy = ownKeys(base as Record<string, unknown>);
    for (const { key: name, action, value: replacement } of changes) {
      if (action === 'delete') delete copy[name];
      else Object.defineProperty(copy, name, { value: replacement, enumerable: true, writable: true, configurable: true });
    }
    return copy;
  });
}

/**
 * A documented example (a request the function accepts) with exactly one field made hostile, and
 * fresh email addresses, so the hostile value is what decides the answer.
 */
function oneFieldHostile(examples: readonly unknown[], schema: Json): fc.Arbitrary<unknown> {
  const properties = (schema['properties'] ?? {}) as Record<string, Json>;
  const emailKeys = Object.keys(properties).filter((name) => properties[name]?.['format'] === 'email');
  const names = Object.keys(properties);
  if (names.length === 0) return fc.constantFrom(...examples);
  return fc
    .tuple(fc.constantFrom(...examples), fc.array(freshEmail, { minLength: emailKeys.length, maxLength: emailKeys.length }), fc.constantFrom(...names), fc.oneof(hostileString, hostileString, hostileJson))
    .map(([example, emails, name, value]) => {
      if (typeof example !== 'object' || example === null) return example;
      const copy = ownKeys(example as Record<string, unknown>);
      emailKeys.forEach((key, index) => {
        if (key in copy) copy[key] = emails[index];
      });
      Object.defineProperty(copy, name, { value, enumerable: true, writable: true, configurable: true });
      return copy;
    });
}

const INVALID_UTF8 = [[0xff], [0xfe, 0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0x80], [0xf4, 0x90, 0x80, 0x80], [0xe0, 0xa4]];

/** JSON text, then sometimes broken at the byte level. */
function bodyBytes(value: fc.Arbitrary<unknown>): fc.Arbitrary<{ bytes: Buffer; json?: unknown }> {
  const plain = value.map((json) => ({ bytes: Buffer.from(JSON.stringify(json) ?? 'null'), json }));
  const withBadBytes = fc.tuple(value, fc.constantFrom(...INVALID_UTF8), fc.nat()).map(([json, bad, at]) => {
    const text = Buffer.from(JSON.stringify(json) ?? 'null');
    // Inside a string value where there is one, so only the encoding is wrong.
    const quote = text.indexOf('"', text.indexOf(':') + 1);
    const position = quote > 0 ? quote + 1 : at % (text.length + 1);
    return { bytes: Buffer.concat([text.subarray(0, position), Buffer.from(bad), text.subarray(position)]) };
  });
  const duplicateKeys = value.map((json) => {
    const text = JSON.stringify(json) ?? 'null';
    if (!text.startsWith('{"')) return { bytes: Buffer.from(text) };
    const firstKey = /^\{("(?:[^"\\]|\\.)*")/.exec(text)?.[1] ?? '"k"';
    return { bytes: Buffer.from(`{${firstKey}:"first",${text.slice(1)}`) };
  });
  const truncated = fc.tuple(value, fc.nat()).map(([json, at]) => {
    const text = JSON.stringify(json) ?? 'null';
    return { bytes: Buffer.from(text.slice(0, at % Math.max(1, text.length))) };
  });
  const nested = fc.tuple(fc.integer({ min: 1, max: 12_000 }), fc.boolean()).map(([depth, arrays]) => ({
    bytes: Buffer.from(arrays ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`),
  }));
  const numbers = fc.constantFrom('{"limit":1e999}', '[1e400]', `{"email":${'9'.repeat(400)}}`, '-0', '{"name":-1e-400}', '18446744073709551616').map((text) => ({ bytes: Buffer.from(text) }));
  const garbage = fc.uint8Array({ maxLength: 200 }).map((bytes) => ({ bytes: Buffer.from(bytes) }));
  const withBom = value.map((json) => ({ bytes: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(json) ?? 'null')]), json }));
  return fc.oneof(
    { weight: 12, arbitrary: plain },
    { weight: 2, arbitrary: withBadBytes },
    { weight: 1, arbitrary: duplicateKeys },
    { weight: 1, arbitrary: truncated },
    { weight: 1, arbitrary: nested },
    { weight: 1, arbitrary: numbers },
    { weight: 1, arbitrary: garbage },
    { weight: 1, arbitrary: withBom },
    { weight: 1, arbitrary: fc.constant({ bytes: Buffer.alloc(0) }) },
  );
}

const CONTENT_TYPES = [
  'application/json; charset=utf-8',
  'application/problem+json',
  'APPLICATION/JSON',
  'application/json; charset=latin1',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/cloudevents+json',
  'application/octet-stream',
  '',
  ';;;',
  'application/',
];

/** Percent-encodes every byte, so any byte sequence (not only UTF-8) can travel in a URL. */
function percentEncodeBytes(bytes: Uint8Array): string {
  return [...bytes].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join('');
}

/** A string as a URL component: UTF-8, percent-encoded where needed; a lone surrogate goes as its (invalid) CESU bytes. */
function encodeComponent(text: string): string {
  let out = '';
  for (const part of text.match(/[\ud800-\udbff][\udc00-\udfff]|[\s\S]/g) ?? []) {
    const code = part.charCodeAt(0);
    if (part.length === 1 && code >= 0xd800 && code <= 0xdfff) {
      out += percentEncodeBytes(Uint8Array.of(0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)));
    } else if (/^[A-Za-z0-9\-._~]$/.test(part)) {
      out += part;
    } else {
      out += percentEncodeBytes(Buffer.from(part, 'utf8'));
    }
  }
  return out;
}

const rawSegment = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('%', '%f', '%zz', '%E0%A4%A', '%ff%fe', '%00', '%C0%AF', '%ED%A0%80', '..', '.', '%2e%2e', 'verify', '%76erify', '%2F', 'a%2Fb', '+', ' ', 'x'.repeat(3000)) },
  { weight: 3, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 12 }).map(percentEncodeBytes) },
  { weight: 3, arbitrary: hostileString.map(encodeComponent) },
  // Bytes outside ASCII, unencoded (as a careless client sends them).
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 }).map((text) => Buffer.from(text, 'utf8').toString('latin1')) },
);

function pathFor(template: string, context: FuzzContext): fc.Arbitrary<string> {
  const names = [...template.matchAll(/\{(\w+)\}/g)].map((match) => match[1] as string);
  const segment = fc.oneof(
    { weight: 6, arbitrary: context.userIds.length > 0 ? fc.constantFrom(...context.userIds) : fc.uuid() },
    { weight: 2, arbitrary: fc.uuid() },
    { weight: 2, arbitrary: rawSegment },
  );
  const filled = fc.array(segment, { minLength: names.length, maxLength: names.length }).map((values) => {
    let path = template;
    names.forEach((name, index) => (path = path.replace(`{${name}}`, values[index] as string)));
    return path;
  });
  const odd = fc.oneof(
    filled.map((path) => `${path}/`),
    filled.map((path) => `${path}//`),
    filled.map((path) => `${path}/extra`),
    filled.map((path) => path.toUpperCase()),
    filled.map((path) => `/x${path}`),
    fc.webPath(),
    fc.constantFrom('*', '/', '//', 'http://127.0.0.1/users', '/healthz', '/readyz', '/%', '/users/verify', '/auth/login', '/favicon.ico'),
    rawSegment.map((raw) => `/${raw}`),
  );
  return fc.oneof({ weight: 6, arbitrary: filled }, { weight: 1, arbitrary: odd });
}

function queryFor(operation: Json, document: Json): fc.Arbitrary<string> {
  const parameters = ((operation['parameters'] ?? []) as Json[]).filter((parameter) => parameter['in'] === 'query');
  const names = parameters.map((parameter) => parameter['name'] as string);
  const valueOf = new Map(parameters.map((parameter) => [parameter['name'] as string, parameter]));
  const entry = fc
    .oneof(
      { weight: 4, arbitrary: names.length > 0 ? fc.constantFrom(...names) : hostileString },
      { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'sort', '', 'limit[]') },
      { weight: 1, arbitrary: hostileString },
    )
    .chain((name) => {
      const parameter = valueOf.get(name);
      const example = parameter ? String(parameter['example'] ?? '') : '';
      const plausible = parameter ? valueFor(parameter['schema'], document).map((value) => (typeof value === 'string' ? value : JSON.stringify(value) ?? '')) : hostileString;
      const value = fc.oneof(
        { weight: 3, arbitrary: plausible },
        { weight: 1, arbitrary: fc.constant(example) },
        { weight: 3, arbitrary: hostileString },
      );
      return fc.tuple(fc.constant(name), value).map(([key, text]) => `${encodeComponent(key)}=${encodeComponent(text)}`);
    });
  // The documented examples (a query the function accepts), some left out, and one made hostile.
  const examples = fc
    .tuple(fc.subarray(parameters), names.length > 0 ? fc.constantFrom(...names) : fc.constant('q'), hostileString)
    .map(([kept, hostileName, hostileValue]) => {
      const entries = kept.filter((parameter) => parameter['name'] !== hostileName).map((parameter) => [parameter['name'] as string, String(parameter['example'] ?? '')]);
      return [...entries, [hostileName, hostileValue]].map(([key, text]) => `${encodeComponent(key as string)}=${encodeComponent(text as string)}`);
    });
  const raw = fc.constantFrom('%zz=1', 'name=%ff', 'name=%', '&&', '=', '==', 'a=b=c', 'name', 'limit=1&limit=2', 'name=a+b', 'email=%E0%A4%A', 'cursor=%00');
  const random = fc.array(fc.oneof({ weight: 5, arbitrary: entry }, { weight: 1, arbitrary: raw }), { maxLength: 4 });
  return fc
    .oneof({ weight: 2, arbitrary: random }, { weight: names.length > 0 ? 2 : 0, arbitrary: examples })
    .map((parts) => (parts.length === 0 ? '' : `?${parts.join('&')}`));
}

const headerText = fc.oneof(
  { weight: 16, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 60 }) },
  // Any latin1 character but CR and LF, which would end the header line.
  {
    weight: 1,
    arbitrary: fc.string({ unit: fc.integer({ min: 0, max: 255 }).filter((code) => code !== 10 && code !== 13).map((code) => String.fromCharCode(code)), maxLength: 40 }),
  },
  { weight: 1, arbitrary: fc.constantFrom('x'.repeat(9000), 'y'.repeat(20_000)) },
);

/** A header line `weight` times in ten. */
function optionalHeader(name: fc.Arbitrary<string>, value: fc.Arbitrary<string>, weight: number): fc.Arbitrary<[string, string] | undefined> {
  return fc.oneof({ weight: 10 - weight, arbitrary: fc.constant(undefined) }, { weight, arbitrary: fc.tuple(name, value) });
}

function headersFor(operation: Json, context: FuzzContext): fc.Arbitrary<[string, string][]> {
  const authorization = fc.oneof(
    { weight: 14, arbitrary: fc.constantFrom(...context.authorizations) },
    { weight: 1, arbitrary: headerText.map((text) => `Bearer ${text}`) },
    { weight: 1, arbitrary: headerText },
  );
  const conditional = fc.oneof(fc.constantFrom(...context.etags, '*', 'W/"x"', '"unquoted', '', ',,,'), headerText);
  const optional = (name: string, value: fc.Arbitrary<string>, weight: number) => optionalHeader(fc.constant(name), value, weight);
  const wantsAuth = Array.isArray(operation['security']) && operation['security'].length > 0;
  return fc
    .tuple(
      optional('Authorization', authorization, wantsAuth ? 9 : 2),
      optional('If-Match', conditional, 3),
      optional('If-None-Match', conditional, 2),
      optional('X-Forwarded-For', fc.oneof(fc.ipV4(), fc.ipV6(), headerText), 2),
      optional('Forwarded', headerText, 1),
      optional('traceparent', fc.oneof(fc.constant('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'), headerText), 1),
      optional('X-Request-Id', headerText, 1),
      optional('User-Agent', headerText, 2),
      optional('Content-Encoding', fc.constantFrom('gzip', 'br', 'identity', 'x'), 1),
      optional('Expect', fc.constantFrom('100-continue', 'nonsense'), 1),
      optional('Accept', headerText, 1),
      optional('Upgrade', fc.constantFrom('websocket', 'h2c'), 1),
      optional('ce-specversion', fc.constantFrom('1.0', '0.3', 'x'), 1),
      optionalHeader(
        fc.oneof(
          { weight: 4, arbitrary: fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,20}$/) },
          { weight: 1, arbitrary: fc.constantFrom('Bad Header', 'X(', '', 'Content-Length', 'Host', 'Transfer-Encoding') },
        ),
        headerText,
        1,
      ),
    )
    .map((entries) => entries.filter((entry): entry is [string, string] => entry !== undefined));
}

const ODD_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'PROPFIND', 'SEARCH', 'FOO', 'get', 'CONNECT'];

/** Requests for the operation at `path` and `method` of the document. */
export function requestsFor(found: Operation, document: Json, context: FuzzContext): fc.Arbitrary<FuzzCase> {
  const { operation } = found;
  const bodySchema = operation['requestBody']?.['content']?.['application/json']?.['schema'];
  const knownKeys = Object.keys(resolveRef(bodySchema, document)?.['properties'] ?? {});
  let plausibleBody = bodySchema ? mutated(valueFor(bodySchema, document), knownKeys) : hostileJson;
  const examples = Object.values<Json>(operation['requestBody']?.['content']?.['application/json']?.['examples'] ?? {}).map((example) => example['value']);
  if (examples.length > 0) plausibleBody = fc.oneof(plausibleBody, oneFieldHostile(examples, resolveRef(bodySchema, document) ?? {}));
  if (knownKeys.includes('email') && knownKeys.includes('password') && context.credentials.length > 0) {
    const known = fc
      .tuple(plausibleBody, fc.constantFrom(...context.credentials))
      .map(([body, credentials]) => (typeof body === 'object' && body !== null && !Array.isArray(body) ? { ...body, ...credentials } : body));
    plausibleBody = fc.oneof(plausibleBody, known);
  }
  const body = fc.oneof(
    { weight: bodySchema ? 12 : 1, arbitrary: bodyBytes(plausibleBody).map((encoded) => ({ ...encoded, contentType: 'application/json' })) },
    { weight: 2, arbitrary: fc.tuple(bodyBytes(plausibleBody), fc.constantFrom(...CONTENT_TYPES)).map(([encoded, contentType]) => ({ ...encoded, contentType })) },
    { weight: bodySchema ? 1 : 8, arbitrary: fc.constant(undefined) },
  );
  const method = fc.oneof({ weight: 12, arbitrary: fc.constant(found.method) }, { weight: 1, arbitrary: fc.constantFrom(...ODD_METHODS) });
  return fc
    .record({
      method,
      path: pathFor(found.path, context),
      query: queryFor(operation, document),
      headers: headersFor(operation, context),
      body,
      chunked: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    })
    .map(({ method: verb, path, query, headers, body: sent, chunked }) => {
      const allHeaders: [string, string][] = [...headers];
      if (sent && sent.contentType !== '') allHeaders.push(['Content-Type', sent.contentType]);
      const request: RawRequest = { method: verb, target: `${path}${query}`, headers: allHeaders, ...(sent ? { body: sent.bytes, chunked } : {}) };
      return sent && 'json' in sent ? { request, sentJson: sent.json } : { request };
    });
}

/** The operation of the document served by `name` (its operationId). */
export function operationOf(document: Json, name: string): Operation {
  for (const [path, item] of Object.entries<Json>(document['paths'] ?? {})) {
    for (const [method, operation] of Object.entries<Json>(item)) {
      if (operation?.['operationId'] === name) return { path, method: method.toUpperCase(), operation };
    }
  }
  throw new Error(`no operation ${name} in the document`);
}
