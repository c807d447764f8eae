import { sql } from 'kysely';
import nodemailer, { type Transporter } from 'nodemailer';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { INVENTORY } from '../../../functions/inventory.js';
import type { CloudEvent} from 'cloudevents';
import { HTTP } from 'cloudevents';
import { EMAIL_VERIFICATION_REQUESTED, openAccountEmailEvent, PASSWORD_RESET_REQUESTED } from '../../../functions/contracts/events/account-email-events.js';
import { signEvent, SIGNATURE_ATTRIBUTE } from '../../../functions/shared/events/event-signature.js';
import type { StoredEvent } from '../../../functions/shared/events/publisher.js';
import { createEventPublisher } from '../../../functions/shared/events/publisher.js';
import { BODY_LIMIT_BYTES } from '../../../functions/shared/http/errors.js';
import { createPasswordHasher, type PasswordHasher } from '../../../functions/shared/passwords/password-hasher.js';
import { startMailCatcher, type MailCatcher } from '../../../runner/mail-catcher.js';
import { freePort } from '../../../runner/ports.js';
import { startTestFunction, TEST_SEAL_KEY, type RunningFunction } from '../../../test/support/function-harness.js';
import { loadDefinition, startInventoryFunctions, type InventoryFunctions } from '../../../test/support/http-functions.js';
import { createTestDatabase, testPostgresServers, type TestDatabase } from '../../../test/support/postgres.js';
import { createTestSigningKeys, type TestSigningKeys } from '../../../test/support/signing.js';
import { buildOpenApiDocument } from './document.js';
import { ADA, GRACE, type ExamplePerson } from './examples.js';
import { createDocumentValidator } from '../../../test/support/openapi-validator.js';

/**
 * The functions against openapi.yaml: every function of the inventory runs in-process with its
 * real dependencies (Postgres, bcrypt, signing keys, the mail catcher; auth-login calls the
 * users-verify started here), each documented request example is sent as written, and so are the
 * errors a client can cause.
 * Every answer must be documented for its operation: its status, its content type, a body that
 * validates against the documented schema, and the documented headers.
 */

const document = (await buildOpenApiDocument()) as any;
const validator = createDocumentValidator(document);
const MAIL_FROM = 'Accounts <no-reply@accounts.test>';

interface DocumentedOperation {
  readonly path: string;
  readonly method: string;
  readonly operation: any;
}

function operationOf(operationId: string): DocumentedOperation {
  for (const [group, items] of Object.entries<any>({ paths: document.paths, webhooks: document.webhooks })) {
    for (const [path, item] of Object.entries<any>(items)) {
      for (const [method, operation] of Object.entries<any>(item)) {
        if (operation?.operationId === operationId) return { path: group === 'paths' ? path : '/', method: method.toUpperCase(), operation };
      }
    }
  }
  throw new Error(`no operation ${operationId} in the document`);
}

function resolve(value: any): any {
  if (typeof value?.$ref !== 'string') return value;
  const [, kind, name] = /^#\/components\/(\w+)\/(.+)$/.exec(value.$ref) ?? [];
  return document.components[kind as string][name as string];
}

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: any;
}

/**
 * Fails unless the answer is one the document gives for this operation: a documented status, a
 * documented content type with a body valid against its schema (or no body when none is
 * documented), and every documented header present when required and valid when present.
 */
async function expectDocumented(operationId: string, response: Response): Promise<Answer> {
  const { operation } = operationOf(operationId);
  const text = await response.text();
  const where = `${operationId} ${response.status}`;
  const documented = resolve(operation.responses[String(response.status)] ?? operation.responses[`${String(response.status)[0]}XX`]);
  expect(documented, `${where} is a documented status (body: ${text.slice(0, 300)})`).toBeDefined();
  let body: unknown = text;
  if (documented.content) {
    const type = (response.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '';
    const media = documented.content[type];
    expect(media, `${where}: content type "${type}" is documented`).toBeDefined();
    body = JSON.parse(text);
    expect(validator.errors(media.schema, body), `${where} body ${text.slice(0, 300)}`).toEqual([]);
  } else {
    expect(text, `${where} has no documented body`).toBe('');
  }
  for (const [name, reference] of Object.entries<any>(documented.headers ?? {})) {
    const header = resolve(reference);
    const value = response.headers.get(name);
    if (header.required) expect(value, `${where} header ${name}`).not.toBeNull();
    if (value !== null) {
      const typed = header.schema.type === 'integer' && /^\d+$/.test(value) ? Number(value) : value;
      expect(validator.errors(header.schema, typed), `${where} header ${name}: ${value}`).toEqual([]);
    }
  }
  return { status: response.status, headers: response.headers, body };
}

/** The documented example of this status and name: what the function answered must be exactly it. */
function documentedExample(operationId: string, status: number, name: string): unknown {
  const response = resolve(operationOf(operationId).operation.responses[String(status)]);
  const media = Object.values<any>(response.content)[0];
  const example = media.examples[name];
  expect(example, `${operationId} ${status} example ${name}`).toBeDefined();
  return example.value;
}

interface RequestOptions {
  /** Which request body example to send (default: the only one). */
  readonly example?: string;
  /** Replaces the documented body example. */
  readonly body?: unknown;
  readonly rawBody?: string;
  readonly contentType?: string;
  readonly pathParameters?: Record<string, string>;
  /** Replaces the documented query parameter examples. */
  readonly query?: Record<string, string>;
  /** Added to (or, when undefined, removing) the documented header parameter examples. */
  readonly headers?: Record<string, string | undefined>;
  readonly authorization?: string;
}

/** Sends the operation's documented request (its parameter and body examples), or a variation of it. */
async function send(base: string, operationId: string, options: RequestOptions = {}): Promise<Response> {
  const { path, method, operation } = operationOf(operationId);
  const parameters: any[] = operation.parameters ?? [];
  let url = path;
  for (const parameter of parameters.filter((p) => p.in === 'path')) {
    url = url.replace(`{${parameter.name}}`, encodeURIComponent(options.pathParameters?.[parameter.name] ?? String(parameter.example)));
  }
  const query = new URLSearchParams(
    options.query ?? Object.fromEntries(parameters.filter((p) => p.in === 'query').map((p) => [p.name, String(p.example)])),
  );
  const headers: Record<string, string> = {};
  for (const parameter of parameters.filter((p) => p.in === 'header')) headers[parameter.name] = String(parameter.example);
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (value === undefined) delete headers[name];
    else headers[name] = value;
  }
  if (options.authorization) headers['authorization'] = options.authorization;
  let body: string | undefined = options.rawBody;
  const media = operation.requestBody?.content?.['application/json'];
  if (body === undefined && (options.body !== undefined || media)) {
    const examples = Object.entries<any>(media?.examples ?? {});
    const chosen = options.example ? media.examples[options.example] : examples.length === 1 ? examples[0]?.[1] : undefined;
    const value = options.body !== undefined ? options.body : chosen?.value;
    if (value === undefined) throw new Error(`${operationId}: say which request example to send`);
    body = JSON.stringify(value);
  }
  if (body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
  const search = query.toString();
  return fetch(`${base}${url}${search ? `?${search}` : ''}`, { method, headers, body });
}

describe('the functions answer as openapi.yaml documents', () => {
  let database: TestDatabase;
  let passwords: PasswordHasher;
  let keys: TestSigningKeys;
  let catcher: MailCatcher;
  let mail: Transporter;
  let system: InventoryFunctions;
  /** auth-login with a users-verify that does not answer. */
  let withoutUsersVerify: RunningFunction;
  const hashes = new Map<string, string>();

  const bearer = async (person: ExamplePerson): Promise<string> =>
    `Bearer ${(await keys.signer.sign({ userId: person.record.id, role: person.record.role, tokenVersion: 1 })).accessToken}`;
  /** What the operation's security asks for: Grace's access token (an admin's), or auth-login's service token. */
  const credentialFor = async (operationId: string): Promise<string | undefined> => {
    const scheme = Object.keys(operationOf(operationId).operation.security?.[0] ?? {})[0];
    if (scheme === 'bearerAuth') return bearer(GRACE);
    if (scheme === 'serviceToken') return `Bearer ${await keys.signer.serviceToken({ caller: 'auth-login', audience: operationId })}`;
    return undefined;
  };
  const urlOf = (name: string): string => (name === 'auth-login-without-users-verify' ? withoutUsersVerify.url : system.url(name));
  const call = async (name: string, options: RequestOptions = {}): Promise<Answer> => expectDocumented(name, await send(urlOf(name), name, options));

  async function seed(...people: ExamplePerson[]): Promise<void> {
    for (const { record } of people) {
      await database.db
        .insertInto('users.users')
        .values({
          id: record.id,
          email: record.email,
          name: record.name,
          surname: record.surname,
          role: record.role,
          email_verified: record.emailVerified,
          password_hash: hashes.get(record.id) as string,
        })
        .execute();
    }
  }

  beforeAll(async () => {
    database = await createTestDatabase(testPostgresServers()[0]!.adminUrl);
    passwords = createPasswordHasher({ cost: 4, threads: 2 });
    keys = await createTestSigningKeys();
    catcher = await startMailCatcher();
    mail = nodemailer.createTransport(catcher.smtpUrl);
    for (const person of [ADA, GRACE]) hashes.set(person.record.id, await passwords.hash(person.password));
    // Every function of the inventory, with its real dependencies.
    system = await startInventoryFunctions({ database, keys, passwords, mail, config: { MAIL_FROM, EMAIL_REQUEST_ANSWER_MS: '0' } });
    withoutUsersVerify = await startTestFunction(
      await loadDefinition({ name: 'auth-login', domain: 'auth' }),
      { database: database.db, signing: keys.signer, sink: createEventPublisher({ sinkUrl: `http://127.0.0.1:${await freePort()}/`, timeoutMs: 500 }) },
      { config: { LOGIN_MAX_FAILURES_PER_EMAIL: 5, LOGIN_MAX_FAILURES_PER_CLIENT: 50, LOGIN_FAILURE_WINDOW_SECONDS: 900, USERS_VERIFY_URL: `http://127.0.0.1:${await freePort()}` } },
    );
  });

  afterAll(async () => {
    await system?.close();
    await withoutUsersVerify?.close();
    mail?.close();
    await catcher?.stop();
    await passwords?.close();
    await database?.drop();
  });

  beforeEach(async () => {
    await database.reset();
    catcher.clear();
    await seed(ADA, GRACE);
  });

  it.each(INVENTORY.filter((spec) => spec.trigger === 'http').map((spec) => spec.name))(
    '%s answers each documented request example as documented',
    async (name) => {
      const { operation } = operationOf(name);
      const examples = Object.keys(operation.requestBody?.content?.['application/json']?.examples ?? {});
      const authorization = await credentialFor(name);
      for (const example of examples.length > 0 ? examples : [undefined]) {
        const answer = await call(name, { ...(example ? { example } : {}), ...(authorization ? { authorization } : {}) });
        expect(answer.status, `${name} ${example ?? ''}`).toBeLessThan(500);
      }
    },
  );

  describe('users-create', () => {
    it('registers the documented example: 201 with Location and ETag', async () => {
      const created = await call('users-create');
      expect(created.status).toBe(201);
      expect(created.headers.get('location')).toBe(`/users/${created.body.id}`);
      const example = documentedExample('users-create', 201, 'created') as Record<string, unknown>;
      expect(created.body).toMatchObject({ email: example['email'], name: example['name'], surname: example['surname'], role: 'user' });
    });

    it('answers the documented problems: invalid body, taken email, malformed JSON, too large, not JSON', async () => {
      const invalid = await call('users-create', { body: { email: 'nope', password: 'short', name: 'Ada' } });
      expect(invalid.body).toEqual(documentedExample('users-create', 400, 'validation-failed'));
      const taken = await call('users-create', { body: { email: ADA.record.email.toUpperCase(), password: ADA.password, name: 'Ada', surname: 'L' } });
      expect(taken.body).toEqual(documentedExample('users-create', 409, 'email-taken'));
      const malformed = await call('users-create', { rawBody: '{"email":' });
      expect(malformed.body).toEqual(documentedExample('users-create', 400, 'malformed-json'));
      const huge = await call('users-create', { body: { email: 'big@example.com', password: ADA.password, name: 'x'.repeat(BODY_LIMIT_BYTES), surname: 'B' } });
      expect(huge.body).toEqual(documentedExample('users-create', 413, 'body-too-large'));
      const text = await call('users-create', { rawBody: 'hello', contentType: 'text/plain' });
      expect(text.body).toEqual(documentedExample('users-create', 415, 'unsupported-media-type'));
    });
  });

  describe('users-get', () => {
    it('reads the documented example, then answers 304 to its ETag', async () => {
      const read = await call('users-get', { authorization: await bearer(ADA), headers: { 'If-None-Match': undefined } });
      expect(read.status).toBe(200);
      expect(read.body).toMatchObject({ id: ADA.record.id, email: ADA.record.email, name: ADA.record.name });
      const etag = read.headers.get('etag') as string;
      expect((await call('users-get', { authorization: await bearer(ADA), headers: { 'If-None-Match': etag } })).status).toBe(304);
      // The documented If-None-Match example is the seeded user's current version.
      expect((await call('users-get', { authorization: await bearer(ADA) })).status).toBe(304);
    });

    it('answers the documented problems: no token, an expired token, another user, an unknown id', async () => {
      const none = await call('users-get');
      expect(none.body).toEqual(documentedExample('users-get', 401, 'unauthenticated'));
      const stale = await keys.signerAt(new Date(Date.now() - 3_600_000));
      const expired = await call('users-get', { authorization: `Bearer ${(await stale.sign({ userId: ADA.record.id, role: 'user', tokenVersion: 1 })).accessToken}` });
      expect(expired.body).toEqual(documentedExample('users-get', 401, 'expired-token'));
      expect(expired.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
      const other = await call('users-get', { authorization: await bearer(ADA), pathParameters: { id: GRACE.record.id } });
      expect(other.body).toEqual(documentedExample('users-get', 403, 'not-self-or-admin'));
      const unknown = await call('users-get', { authorization: await bearer(GRACE), pathParameters: { id: '00000000-0000-4000-8000-000000000000' } });
      expect(unknown.body).toEqual(documentedExample('users-get', 404, 'user-not-found'));
      const notAnId = await call('users-get', { authorization: await bearer(GRACE), pathParameters: { id: 'verify' } });
      expect(notAnId.status).toBe(404);
    });
  });

  describe('users-list', () => {
    it('lists with the documented query parameters, and pages with nextCursor', async () => {
      const documented = await call('users-list', { authorization: await bearer(GRACE) });
      expect(documented.status).toBe(200);
      const filters = Object.fromEntries(
        operationOf('users-list')
          .operation.parameters.filter((p: any) => p.name !== 'cursor')
          .map((p: any) => [p.name, String(p.example)]),
      ) as Record<string, string>;
      const filtered = await call('users-list', { authorization: await bearer(GRACE), query: filters });
      expect(filtered.body).toEqual({ items: [expect.objectContaining({ id: ADA.record.id })], nextCursor: null });
      const first = await call('users-list', { authorization: await bearer(GRACE), query: { limit: '1' } });
      expect(first.body.nextCursor).toEqual(expect.any(String));
      const second = await call('users-list', { authorization: await bearer(GRACE), query: { limit: '1', cursor: first.body.nextCursor } });
      expect(second.body.items).toHaveLength(1);
      expect(second.body.items[0].id).not.toBe(first.body.items[0].id);
    });

    it('answers the documented problems: invalid query, unknown cursor or parameter, no token, not an admin', async () => {
      const invalid = await call('users-list', { authorization: await bearer(GRACE), query: { limit: '0' } });
      expect(invalid.body).toEqual(documentedExample('users-list', 400, 'validation-failed'));
      const cursor = await call('users-list', { authorization: await bearer(GRACE), query: { cursor: 'not-a-cursor' } });
      expect(cursor.body).toEqual(documentedExample('users-list', 400, 'unknown-cursor'));
      const unknown = await call('users-list', { authorization: await bearer(GRACE), query: { sort: 'name' } });
      expect(unknown.body).toEqual(documentedExample('users-list', 400, 'unknown-parameter'));
      expect((await call('users-list')).status).toBe(401);
      const user = await call('users-list', { authorization: await bearer(ADA) });
      expect(user.body).toEqual(documentedExample('users-list', 403, 'not-admin'));
    });
  });

  describe('users-update', () => {
    it.each([
      ['rename', ADA],
      ['change-password', ADA],
      ['make-admin', GRACE],
    ] as const)('applies the documented example %s (with the documented If-Match)', async (example, caller) => {
      const changed = await call('users-update', { example, authorization: await bearer(caller) });
      expect(changed.status).toBe(200);
      const ifMatch = operationOf('users-update').operation.parameters.find((p: any) => p.name === 'If-Match');
      expect(changed.headers.get('etag')).not.toBe(ifMatch.example);
      if (example === 'rename') {
        const documented = documentedExample('users-update', 200, 'renamed') as Record<string, unknown>;
        expect(changed.body).toMatchObject({ id: documented['id'], name: documented['name'], surname: documented['surname'] });
      }
    });

    it('answers the documented problems: stale If-Match, taken email, forbidden changes, missing current password', async () => {
      const ada = await bearer(ADA);
      await call('users-update', { example: 'rename', authorization: ada });
      const stale = await call('users-update', { example: 'rename', authorization: ada });
      expect(stale.body).toEqual(documentedExample('users-update', 412, 'stale-etag'));
      const taken = await call('users-update', { body: { email: GRACE.record.email, currentPassword: ADA.password }, authorization: ada, headers: { 'If-Match': undefined } });
      expect(taken.body).toEqual(documentedExample('users-update', 409, 'email-taken'));
      const role = await call('users-update', { example: 'make-admin', authorization: ada, headers: { 'If-Match': undefined } });
      expect(role.body).toEqual(documentedExample('users-update', 403, 'role-change-not-admin'));
      const other = await call('users-update', { example: 'rename', authorization: ada, pathParameters: { id: GRACE.record.id } });
      expect(other.body).toEqual(documentedExample('users-update', 403, 'not-self-or-admin'));
      const wrong = await call('users-update', {
        body: { password: 'a brand new secret', currentPassword: 'not my password' },
        authorization: ada,
        headers: { 'If-Match': undefined },
      });
      expect(wrong.body).toEqual(documentedExample('users-update', 403, 'current-password-mismatch'));
      const missing = await call('users-update', { body: { password: 'a brand new secret' }, authorization: ada, headers: { 'If-Match': undefined } });
      expect(missing.body).toEqual(documentedExample('users-update', 400, 'current-password-missing'));
      // Four wrong current passwords so far (with the one above); the fifth reaches the limit, the sixth is locked out.
      for (const guess of ['guess 2', 'guess 3', 'guess 4', 'guess 5']) {
        await call('users-update', { body: { email: 'mallory@example.com', currentPassword: guess }, authorization: ada, headers: { 'If-Match': undefined } });
      }
      const locked = await call('users-update', { example: 'change-email', authorization: ada, headers: { 'If-Match': undefined } });
      expect(locked.body).toEqual(documentedExample('users-update', 429, 'too-many-attempts'));
    });

    it('answers the documented problems: invalid body, unknown id, no token, not JSON, too large', async () => {
      const grace = await bearer(GRACE);
      const invalid = await call('users-update', { body: { name: '', role: 'owner', nickname: 'Ada' }, authorization: grace });
      expect(invalid.body).toEqual(documentedExample('users-update', 400, 'validation-failed'));
      const unknown = await call('users-update', { example: 'rename', authorization: grace, pathParameters: { id: '00000000-0000-4000-8000-000000000000' } });
      expect(unknown.body).toEqual(documentedExample('users-update', 404, 'user-not-found'));
      expect((await call('users-update', { example: 'rename' })).status).toBe(401);
      expect((await call('users-update', { rawBody: 'name=Ada', contentType: 'application/x-www-form-urlencoded', authorization: grace })).status).toBe(415);
      expect((await call('users-update', { body: { name: 'x'.repeat(BODY_LIMIT_BYTES) }, authorization: grace })).status).toBe(413);
    });
  });

  describe('users-delete', () => {
    it('deletes with the documented example: 204, then the id answers 404', async () => {
      const deleted = await call('users-delete', { authorization: await bearer(ADA) });
      expect(deleted.status).toBe(204);
      const again = await call('users-delete', { authorization: await bearer(GRACE), headers: { 'If-Match': undefined } });
      expect(again.body).toEqual(documentedExample('users-delete', 404, 'user-not-found'));
    });

    it('answers the documented problems: stale If-Match, another user, no token', async () => {
      await database.db
        .updateTable('users.users')
        .set({ name: 'Changed', version: sql<number>`version + 1` })
        .where('id', '=', ADA.record.id)
        .execute();
      const stale = await call('users-delete', { authorization: await bearer(ADA) });
      expect(stale.body).toEqual(documentedExample('users-delete', 412, 'stale-etag'));
      const other = await call('users-delete', { authorization: await bearer(ADA), pathParameters: { id: GRACE.record.id } });
      expect(other.body).toEqual(documentedExample('users-delete', 403, 'not-self-or-admin'));
      expect((await call('users-delete')).body).toEqual(documentedExample('users-delete', 401, 'unauthenticated'));
    });
  });

  describe('users-verify', () => {
    const asAuthLogin = async (options: RequestOptions = {}) => call('users-verify', { ...options, authorization: await credentialFor('users-verify') });

    it('verifies the documented example', async () => {
      const verified = await asAuthLogin();
      expect(verified.body).toEqual(documentedExample('users-verify', 200, 'ada'));
    });

    it('answers the documented problems: no match, a caller not allowed, invalid body, not JSON', async () => {
      const wrong = await asAuthLogin({ body: { email: ADA.record.email, password: 'not her password' } });
      expect(wrong.body).toEqual(documentedExample('users-verify', 401, 'invalid-credentials'));
      const unknown = await asAuthLogin({ body: { email: 'nobody@example.com', password: ADA.password } });
      expect(unknown.body).toEqual(wrong.body);
      const anyone = await call('users-verify', { authorization: await bearer(GRACE) });
      expect(anyone.body).toEqual(documentedExample('users-verify', 401, 'caller-not-allowed'));
      const invalid = await asAuthLogin({ body: { email: 'ada@example.com', password: 'short' } });
      expect(invalid.body).toEqual(documentedExample('users-verify', 400, 'validation-failed'));
      expect((await asAuthLogin({ rawBody: 'x', contentType: 'text/plain' })).status).toBe(415);
    });
  });

  describe('auth-login', () => {
    it('signs in with the documented example: a token the functions accept', async () => {
      const signedIn = await call('auth-login');
      expect(signedIn.body).toMatchObject({ token_type: 'Bearer', expires_in: 900 });
      await expect(keys.verifier.verifyAuthorization(`Bearer ${signedIn.body.access_token}`)).resolves.toEqual({ userId: ADA.record.id, role: 'user', tokenVersion: 1 });
      expect(signedIn.body.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    });

    it('answers the documented problems: no match, lockout with Retry-After, invalid body', async () => {
      const wrongPassword = { email: ADA.record.email, password: 'wrong guess' };
      for (let attempt = 1; attempt <= 5; attempt += 1) {
        const failed = await call('auth-login', { body: wrongPassword });
        expect(failed.body).toEqual(documentedExample('auth-login', 401, 'invalid-credentials'));
      }
      const locked = await call('auth-login');
      expect(locked.body).toEqual(documentedExample('auth-login', 429, 'too-many-attempts'));
      expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(800);
      const invalid = await call('auth-login', { body: { email: 'ada', password: '' } });
      expect(invalid.body).toEqual(documentedExample('auth-login', 400, 'validation-failed'));
      expect((await call('auth-login', { rawBody: '{', contentType: 'application/json' })).status).toBe(400);
    });

    it('answers 503 with Retry-After when users-verify does not answer', async () => {
      const answer = await expectDocumented('auth-login', await send(urlOf('auth-login-without-users-verify'), 'auth-login'));
      expect(answer.body).toEqual(documentedExample('auth-login', 503, 'sign-in-unavailable'));
    });
  });

  describe('sessions: auth-refresh and auth-logout', () => {
    it('refresh answers new tokens once per refresh token, then the documented 401; logout answers 204 and ends the session', async () => {
      const signedIn = await call('auth-login');
      const refreshed = await call('auth-refresh', { body: { refresh_token: signedIn.body.refresh_token } });
      expect(refreshed.status).toBe(200);
      expect(refreshed.body).toMatchObject({ token_type: 'Bearer', expires_in: 900 });
      const reused = await call('auth-refresh', { body: { refresh_token: signedIn.body.refresh_token } });
      expect(reused.body).toEqual(documentedExample('auth-refresh', 401, 'invalid-refresh-token'));
      // Reuse ended the session: its newest token is refused too.
      expect((await call('auth-refresh', { body: { refresh_token: refreshed.body.refresh_token } })).status).toBe(401);

      const again = await call('auth-login');
      expect((await call('auth-logout', { body: { refresh_token: again.body.refresh_token } })).status).toBe(204);
      expect((await call('auth-logout', { body: { refresh_token: again.body.refresh_token } })).status).toBe(204);
      expect((await call('auth-refresh', { body: { refresh_token: again.body.refresh_token } })).status).toBe(401);
    });
  });

  describe('email verification and password reset', () => {
    /** The token of the newest account email of this type in the outbox, as the email would carry it. */
    const tokenFromOutbox = async (type: typeof EMAIL_VERIFICATION_REQUESTED | typeof PASSWORD_RESET_REQUESTED): Promise<string> => {
      const rows = await database.db.selectFrom('auth.outbox').select('event').where('event_type', '=', type).orderBy('created_at', 'desc').execute();
      const opened = await openAccountEmailEvent(rows[0]!.event as StoredEvent, type, TEST_SEAL_KEY);
      if (!opened.ok) throw new Error(`no ${type} event opens`);
      return opened.value.content.token;
    };

    it('verifies an address: the documented 202 for a request (known or not), 204 for the emailed token, the documented 400 after', async () => {
      await database.db.updateTable('users.users').set({ email_verified: false }).where('id', '=', ADA.record.id).execute();
      const requested = await call('users-email-verification-request', { example: 'verify' });
      expect(requested.status).toBe(202);
      const unknown = await call('users-email-verification-request', { example: 'unknown' });
      expect(unknown.body).toEqual(requested.body);
      const token = await tokenFromOutbox(EMAIL_VERIFICATION_REQUESTED);
      expect((await call('users-email-verification-confirm', { body: { token } })).status).toBe(204);
      const spent = await call('users-email-verification-confirm', { body: { token } });
      expect(spent.body).toEqual(documentedExample('users-email-verification-confirm', 400, 'invalid-email-token'));
    });

    it('resets a password: the documented 202, 204 for the emailed token and a new password, which then signs in; earlier tokens end', async () => {
      const before = await call('auth-login');
      const requested = await call('users-password-reset-request', { example: 'reset' });
      expect(requested.status).toBe(202);
      const token = await tokenFromOutbox(PASSWORD_RESET_REQUESTED);
      const weak = await call('users-password-reset-confirm', { body: { token, password: 'short' } });
      expect(weak.status).toBe(400);
      expect((await call('users-password-reset-confirm', { body: { token, password: 'a brand new secret' } })).status).toBe(204);
      expect((await call('auth-login', { body: { email: ADA.record.email, password: 'a brand new secret' } })).status).toBe(200);
      // What was issued before the reset stops working: the access token on its next use, the session's refresh token.
      const read = await call('users-get', { pathParameters: { id: ADA.record.id }, authorization: `Bearer ${before.body.access_token}` });
      expect(read.body).toEqual(documentedExample('users-get', 401, 'revoked-token'));
      expect((await call('auth-refresh', { body: { refresh_token: before.body.refresh_token } })).status).toBe(401);
      const spent = await call('users-password-reset-confirm', { body: { token, password: 'another new secret' } });
      expect(spent.body).toEqual(documentedExample('users-password-reset-confirm', 400, 'invalid-email-token'));
    });
  });

  describe('auth-jwks', () => {
    it('serves the key set, then 304 to its ETag', async () => {
      const jwks = await call('auth-jwks', { headers: { 'If-None-Match': undefined } });
      expect(jwks.status).toBe(200);
      expect(jwks.body.keys).toEqual([expect.objectContaining({ kid: 'test-key', alg: 'ES256', use: 'sig' })]);
      expect((await call('auth-jwks', { headers: { 'If-None-Match': jwks.headers.get('etag') as string } })).status).toBe(304);
      expect((await call('auth-jwks')).status).toBe(200);
    });
  });

  describe('the user_login_event webhook', () => {
    /** The documented event with auth-login's signature in place of the example's made-up one. */
    const signedExample = async (): Promise<RequestOptions> => {
      const { operation } = operationOf('user_login_event');
      const headers = Object.fromEntries((operation.parameters ?? []).filter((p: any) => p.in === 'header').map((p: any) => [p.name, String(p.example)]));
      const body = Object.values<any>(operation.requestBody.content['application/json'].examples)[0].value;
      const event = HTTP.toEvent({ headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) }) as CloudEvent<unknown>;
      const signed = await signEvent(event, keys.signer);
      return { headers: { [`ce-${SIGNATURE_ATTRIBUTE}`]: String((signed as Record<string, unknown>)[SIGNATURE_ATTRIBUTE]) } };
    };

    it('is taken by notify-login-email as documented: 204, and the alert email goes out', async () => {
      const answer = await expectDocumented('user_login_event', await send(urlOf('notify-login-email'), 'user_login_event', await signedExample()));
      expect(answer.status).toBe(204);
      expect(catcher.messages().map((message) => message.to)).toEqual([[ADA.record.email]]);
      const again = await expectDocumented('user_login_event', await send(urlOf('notify-login-email'), 'user_login_event', await signedExample()));
      expect(again.status).toBe(204);
      expect(catcher.messages()).toHaveLength(1);
    });

    it('acknowledges the documented event as it stands, with its made-up signature, and sends nothing', async () => {
      const answer = await expectDocumented('user_login_event', await send(urlOf('notify-login-email'), 'user_login_event'));
      expect(answer.status).toBe(204);
      expect(catcher.messages()).toEqual([]);
    });

    it('answers the documented problem for a body that is not JSON', async () => {
      const answer = await expectDocumented('user_login_event', await send(urlOf('notify-login-email'), 'user_login_event', { rawBody: '{' }));
      expect(answer.status).toBe(400);
    });
  });

  it('every path answers other methods 405 with Allow, as its description says', async () => {
    for (const [path, item] of Object.entries<any>(document.paths)) {
      const methods = Object.keys(item).filter((key) => key !== 'description').map((method) => method.toUpperCase());
      const owner = Object.values<any>(item).find((entry) => entry?.operationId)?.operationId as string;
      const response = await fetch(`${urlOf(owner)}${path.replace('{id}', ADA.record.id)}`, { method: 'PUT' });
      expect(response.status, path).toBe(405);
      expect(methods).toEqual(expect.arrayContaining((response.headers.get('allow') ?? '').split(', ')));
      const problem = (await response.json()) as { status: number };
      expect(validator.errors({ $ref: '#/components/schemas/Problem' }, problem)).toEqual([]);
      expect(problem.status).toBe(405);
    }
  });

  it('the check itself fails for an undocumented status, content type or body', async () => {
    const json = (status: number, body: unknown, type = 'application/json') =>
      new Response(JSON.stringify(body), { status, headers: { 'content-type': type } });
    await expect(expectDocumented('users-get', json(418, {}))).rejects.toThrow(/documented status/);
    await expect(expectDocumented('users-get', json(200, { id: ADA.record.id }, 'text/plain'))).rejects.toThrow(/content type/);
    await expect(expectDocumented('users-get', json(404, { type: 'x', title: 'Not Found', status: 404, detail: 'x', stack: 'at' }, 'application/problem+json'))).rejects.toThrow();
    await expect(expectDocumented('user_login_event', new Response('not handled', { status: 500 }))).rejects.toThrow(/no documented body/);
  });
});
