import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CloudEvent, HTTP } from 'cloudevents';
import { parse } from 'yaml';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { z } from 'zod';
import { EVENT_SOURCE } from '../../../functions/auth/auth-login/handler.js';
import { INVENTORY } from '../../../functions/inventory.js';
import { buildAccountEmailEvent, type AccountEmailEventType } from '../../../functions/contracts/events/account-email-events.js';
import { EVENT_CATALOGUE, eventSourceOf } from '../../../functions/contracts/events/catalogue.js';
import { buildUserLoginEvent, userLoginEventData } from '../../../functions/contracts/events/user-login-event.js';
import { signEvent } from '../../../functions/shared/events/event-signature.js';
import { userResourceSchema, type UserResource } from '../../../functions/users/user.js';
import { listUsersQuery } from '../../../functions/users/users-list/schema.js';
import { OPENAPI_FILE, renderOpenApiYaml } from '../openapi.js';
import { createDocumentValidator } from '../../../test/support/openapi-validator.js';
import { createTestSigningKeys } from '../../../test/support/signing.js';
import { ROOT } from '../../../test/support/runner-process.js';
import { buildOpenApiDocument, describeOperation, loadOperations, type DocumentedFunction } from './document.js';
import { EXAMPLE_TRACEPARENT } from './examples.js';
import type { JsonSchema } from './schemas.js';
import { exampleAccountEmailEventData, exampleLoginEventData } from './webhooks.js';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const document = (await buildOpenApiDocument()) as any;
const OPERATIONS = Object.fromEntries(await loadOperations());
const validator = createDocumentValidator(document);
const httpFunctions = INVENTORY.filter((spec) => spec.trigger === 'http');

/** Every operation of the document: paths and webhooks. */
function operations(): { where: string; method: string; operation: any }[] {
  const found: { where: string; method: string; operation: any }[] = [];
  for (const [group, items] of [
    ['paths', document.paths],
    ['webhooks', document.webhooks],
  ] as const) {
    for (const [key, item] of Object.entries<any>(items)) {
      for (const method of METHODS) if (item[method]) found.push({ where: `${group} ${key}`, method, operation: item[method] });
    }
  }
  return found;
}

/** `$ref`s to `#/components/<kind>/<name>` resolved. */
function resolve(value: any): any {
  if (typeof value?.$ref !== 'string') return value;
  const [, kind, name] = /^#\/components\/(\w+)\/(.+)$/.exec(value.$ref) ?? [];
  return document.components[kind as string][name as string];
}

/** The zod schema each request body component comes from: the one its function's declaration parses with. */
const REQUEST_SCHEMAS: Record<string, z.ZodType> = Object.fromEntries(
  [...(await loadOperations()).values()].flatMap(({ definition, doc }) =>
    definition.request.body && doc.requestBody ? [[doc.requestBody.component, definition.request.body]] : [],
  ),
);

describe('openapi.yaml', () => {
  it('is what `npm run openapi` writes (run it and commit the result)', async () => {
    expect(await readFile(OPENAPI_FILE, 'utf8')).toBe(await renderOpenApiYaml());
  });

  it('is built the same every time, with the gateway address the caller gives', async () => {
    expect(JSON.stringify(await buildOpenApiDocument())).toBe(JSON.stringify(document));
    const served = (await buildOpenApiDocument({ serverUrl: 'http://127.0.0.1:4321' })) as any;
    expect(served.servers).toEqual([{ url: 'http://127.0.0.1:4321', description: 'make dev gateway' }]);
    expect({ ...served, servers: document.servers }).toEqual(document);
    expect(document.openapi).toMatch(/^3\.1\./);
  });

  it('names the package version, the Apache-2.0 license of package.json and LICENSE, and one tag per domain', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string; license: string };
    expect(document.info.version).toBe(pkg.version);
    expect(pkg.license).toBe('Apache-2.0');
    expect(document.info.license).toEqual({ name: 'Apache-2.0', identifier: 'Apache-2.0' });
    expect(await readFile(join(ROOT, 'LICENSE'), 'utf8')).toMatch(/Apache License\s+Version 2\.0, January 2004/);
    expect(document.tags.map((tag: { name: string }) => tag.name)).toEqual([...new Set(INVENTORY.map((spec) => spec.domain))]);
  });

  it('passes `redocly lint` with no errors', async () => {
    const { code, stdout, stderr } = await run('npx', ['redocly', 'lint', 'openapi.yaml', '--format=json']);
    const report = JSON.parse(stdout.slice(stdout.indexOf('{'))) as {
      totals: { errors: number; warnings: number };
      problems: { ruleId: string; severity: string; message: string; location: { pointer: string }[] }[];
    };
    for (const problem of report.problems) {
      process.stderr.write(`redocly ${problem.severity} ${problem.ruleId}: ${problem.message} at ${problem.location[0]?.pointer}\n`);
    }
    expect(report.totals.errors, stderr).toBe(0);
    expect(code).toBe(0);
  }, 60_000);
});

describe('the operations', () => {
  it('are exactly one per HTTP function of the inventory, at its method and path, with its name, domain and summary', () => {
    const found = operations().filter((entry) => entry.where.startsWith('paths '));
    expect(found).toHaveLength(httpFunctions.length);
    for (const spec of httpFunctions) {
      const operation = document.paths[spec.path]?.[spec.method.toLowerCase()];
      expect(operation, `${spec.method} ${spec.path}`).toBeDefined();
      expect(operation).toMatchObject({ operationId: spec.name, tags: [spec.domain], summary: spec.summary });
    }
    expect(Object.keys(OPERATIONS).sort()).toEqual(httpFunctions.map((spec) => spec.name).sort());
  });

  it('mark the cluster-local ones internal, and only them', () => {
    for (const spec of httpFunctions) {
      const operation = document.paths[spec.path][spec.method.toLowerCase()];
      expect(operation['x-internal'] === true, spec.name).toBe(spec.visibility === 'cluster-local');
      if (spec.visibility === 'cluster-local') expect(operation.description).toMatch(/cluster-local/i);
    }
  });

  it('ask for a bearer token exactly where the caller rule has the route check one, and then document 401 with WWW-Authenticate', () => {
    expect(Object.keys(document.components.securitySchemes)).toEqual(['bearerAuth', 'serviceToken']);
    expect(document.security).toBeUndefined();
    for (const spec of httpFunctions) {
      const operation = document.paths[spec.path][spec.method.toLowerCase()];
      const rule = spec.callers;
      const checked = rule.kind === 'bearer' || rule.kind === 'service';
      expect(operation.security, spec.name).toEqual(rule.kind === 'bearer' ? [{ bearerAuth: [] }] : rule.kind === 'service' ? [{ serviceToken: [] }] : []);
      // Only a cluster-local function takes service tokens, and only from callers of the inventory.
      if (rule.kind === 'service') expect(spec.visibility, spec.name).toBe('cluster-local');
      if (rule.kind === 'service') for (const caller of rule.callers) expect(INVENTORY.map((entry) => entry.name as string), spec.name).toContain(caller);
      // Only functions holding the verifying key can check a token.
      if (checked) expect(spec.needs as readonly string[], spec.name).toContain('tokens');
      if (checked) expect(Object.keys(resolve(operation.responses['401']).headers ?? {}), spec.name).toContain('WWW-Authenticate');
    }
  });

  it('document the errors every function of their kind answers', () => {
    for (const spec of httpFunctions) {
      const operation = document.paths[spec.path][spec.method.toLowerCase()];
      const statuses = Object.keys(operation.responses);
      expect(statuses, spec.name).toContain('500');
      // redocly's operation-4xx-response is off for auth-jwks alone (see redocly.yaml).
      if (spec.name !== 'auth-jwks') expect(statuses.some((status) => status.startsWith('4')), spec.name).toBe(true);
      if (operation.requestBody) expect(statuses, spec.name).toEqual(expect.arrayContaining(['400', '413', '415']));
      if (/\{\w+\}/.test(spec.path)) expect(statuses, spec.name).toContain('404');
      if (operation.parameters?.some((parameter: any) => parameter.name === 'If-Match')) expect(statuses, spec.name).toContain('412');
      if (operation.parameters?.some((parameter: any) => parameter.name === 'If-None-Match')) expect(statuses, spec.name).toContain('304');
      for (const [status, response] of Object.entries<any>(operation.responses)) {
        if (Number(status) >= 400) expect(Object.keys(resolve(response).content), `${spec.name} ${status}`).toEqual(['application/problem+json']);
      }
    }
  });

  it('say on each path that other methods answer 405 with Allow', () => {
    for (const [path, item] of Object.entries<any>(document.paths)) expect(item.description, path).toMatch(/405.*`Allow`/);
  });

  it('take their request bodies and query parameters from the functions\' own zod schemas', () => {
    for (const { operation } of operations().filter((entry) => entry.where.startsWith('paths '))) {
      const body = operation.requestBody?.content['application/json'];
      if (!body) continue;
      const component = /[^/]+$/.exec(body.schema.$ref)?.[0] as string;
      const schema = REQUEST_SCHEMAS[component];
      expect(schema, component).toBeDefined();
      for (const [name, example] of Object.entries<any>(body.examples)) {
        expect(schema?.safeParse(example.value).success, `${operation.operationId} example ${name}`).toBe(true);
      }
    }
    const list = document.paths['/users'].get;
    expect(list.parameters.map((parameter: any) => parameter.name)).toEqual(Object.keys(listUsersQuery.shape));
    expect(listUsersQuery.safeParse(Object.fromEntries(list.parameters.map((p: any) => [p.name, String(p.example)]))).success).toBe(true);
    expect(list.parameters.find((parameter: any) => parameter.name === 'limit').schema).toMatchObject({ minimum: 1, maximum: 200, default: 50 });
  });

  it('have examples that match their schemas: bodies, parameters and headers', () => {
    let checked = 0;
    const check = (where: string, schema: JsonSchema, value: unknown): void => {
      expect(validator.errors(schema, value), where).toEqual([]);
      checked += 1;
    };
    for (const { where, method, operation } of operations()) {
      const at = `${where} ${method}`;
      for (const parameter of operation.parameters ?? []) check(`${at} parameter ${parameter.name}`, parameter.schema, parameter.example);
      for (const [type, media] of Object.entries<any>(operation.requestBody?.content ?? {})) {
        expect(Object.keys(media.examples ?? {}).length, `${at} request ${type} has an example`).toBeGreaterThan(0);
        for (const [name, example] of Object.entries<any>(media.examples ?? {})) check(`${at} request ${type} ${name}`, media.schema, example.value);
      }
      for (const [status, reference] of Object.entries<any>(operation.responses)) {
        const response = resolve(reference);
        for (const [type, media] of Object.entries<any>(response.content ?? {})) {
          expect(Object.keys(media.examples ?? {}).length, `${at} ${status} ${type} has an example`).toBeGreaterThan(0);
          for (const [name, example] of Object.entries<any>(media.examples)) check(`${at} ${status} ${type} ${name}`, media.schema, example.value);
        }
      }
    }
    for (const [name, header] of Object.entries<any>(document.components.headers)) check(`header ${name}`, header.schema, header.example);
    expect(checked).toBeGreaterThan(80);
  });

  it('describe responses with the zod response schemas, whose types are the functions\' own', () => {
    expectTypeOf<Readonly<z.output<typeof userResourceSchema>>>().toEqualTypeOf<UserResource>();
    expect(document.paths['/users/{id}'].get.responses['200'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/User' });
    expect(document.components.schemas.User.additionalProperties).toBe(false);
    expect(Object.keys(document.components.schemas.User.properties)).toEqual(Object.keys(userResourceSchema.shape));
  });
});

describe('the operations, derived from the declarations', () => {
  const usersGet = OPERATIONS['users-get'] as DocumentedFunction;
  const usersCreate = OPERATIONS['users-create'] as DocumentedFunction;
  const withDoc = (documented: DocumentedFunction, doc: Partial<DocumentedFunction['doc']>): DocumentedFunction => ({ ...documented, doc: { ...documented.doc, ...doc } });

  it('take who may call from the inventory, and what is read and answered from the function\'s index.ts', () => {
    const operation = describeOperation(usersGet) as any;
    expect(operation.security).toEqual([{ bearerAuth: [] }]);
    expect(operation.parameters.map((parameter: any) => `${parameter.in} ${parameter.name}`)).toEqual(['path id', 'header If-None-Match']);
    expect(Object.keys(operation.responses)).toEqual(['200', '304', '401', '403', '404', '500', '503']);
    const anyone = describeOperation({ ...usersGet, spec: { ...usersGet.spec, callers: { kind: 'anyone' } } }) as any;
    expect(anyone.security).toEqual([]);
    expect(Object.keys(anyone.responses)).not.toContain('401');
  });

  it.each([
    ['a declared answer without words', () => withDoc(usersGet, { answers: { 200: usersGet.doc.answers[200]! } }), /no description for its declared 304/],
    ['words for an answer it does not declare', () => withDoc(usersGet, { answers: { ...usersGet.doc.answers, 201: { description: 'x' } } }), /describes a 201 it does not declare/],
    ['words for a problem it neither declares nor implies', () => withDoc(usersGet, { problems: { ...usersGet.doc.problems, 409: 'x' } }), /describes a 409 it neither declares nor implies/],
    ['a declared problem without words', () => withDoc(usersGet, { problems: { 404: 'x' } }), /no description for its 403 \(not-self-or-admin\)/],
    ['a declared parameter without words', () => withDoc(usersGet, { parameters: {} }), /no description for parameter id/],
    ['words for a parameter it does not declare', () => withDoc(usersGet, { parameters: { ...usersGet.doc.parameters, sort: { description: 'x', example: 'name' } } }), /describes a parameter sort it does not declare/],
    ['words for a body it does not declare', () => withDoc(usersGet, { requestBody: { component: 'X', examples: {} } }), /describes a body it does not declare/],
    ['words for a header it does not read', () => withDoc(usersGet, { conditionalHeaders: { 'If-Match': 'x', 'If-None-Match': 'y' } }), /describes If-Match, which its declaration does not read/],
    ['a declared body without an invalid example for its 400', () => withDoc(usersCreate, { invalidInput: undefined }), /no invalid example for its 400/],
  ])('are refused for %s', (_what, documented, message) => {
    expect(() => describeOperation(documented())).toThrow(message);
  });
});

describe('the webhooks', () => {
  it('are one per event type of the catalogue, naming the Broker and the Triggers eventing/ has for it, its subscribers, dead-letter sink and publishers', async () => {
    const { readdir } = await import('node:fs/promises');
    const files = (await readdir(join(ROOT, 'eventing'))).filter((file) => /trigger/.test(file));
    const triggers = await Promise.all(files.map(async (file) => parse(await readFile(join(ROOT, 'eventing', file), 'utf8'))));
    const broker = parse(await readFile(join(ROOT, 'eventing/200-broker.yaml'), 'utf8'));
    expect(Object.keys(document.webhooks)).toEqual(EVENT_CATALOGUE.map((entry) => entry.type));
    for (const entry of EVENT_CATALOGUE) {
      const webhook = document.webhooks[entry.type].post;
      const its = triggers.filter((trigger) => trigger.spec.filter.attributes.type === entry.type);
      expect(webhook['x-knative'], entry.type).toEqual({
        broker: broker.metadata.name,
        triggers: its.map((trigger) => trigger.metadata.name),
        subscribers: its.map((trigger) => trigger.spec.subscriber.ref.name),
        deadLetterSink: its[0].spec.delivery.deadLetterSink.ref.name,
        publishers: [...entry.producers, 'outbox-relay'],
      });
      for (const trigger of its) expect(trigger.spec.broker).toBe(broker.metadata.name);
      for (const name of webhook['x-knative'].publishers) expect(INVENTORY.find((spec) => spec.name === name)?.needs as readonly string[] | undefined, name).toContain('sink');
      for (const name of [...webhook['x-knative'].subscribers, webhook['x-knative'].deadLetterSink]) {
        expect(INVENTORY.find((spec) => spec.name === name)?.trigger, name).toBe('cloudevent');
        expect(webhook.description, name).toContain(name);
      }
      for (const name of [...webhook['x-knative'].triggers, 'outbox-relay', broker.metadata.name]) expect(webhook.description, name).toContain(name);
      expect(webhook.requestBody.content['application/json'].schema).toEqual({ $ref: `#/components/schemas/${entry.dataName}` });
      expect(entry.data.safeParse(Object.values<any>(webhook.requestBody.content['application/json'].examples)[0].value).success, entry.type).toBe(true);
    }
    expect(document.webhooks.email_changed.post['x-knative'].triggers).toEqual(['email-changed-notice']);
  });
});

describe('the user_login_event webhook', () => {
  const webhook = document.webhooks.user_login_event.post;

  it('documents every header of the binary content mode, as the CloudEvents SDK writes them for a signed event', async () => {
    const keys = await createTestSigningKeys();
    const event = await signEvent(buildUserLoginEvent(EVENT_SOURCE, exampleLoginEventData, { traceparent: EXAMPLE_TRACEPARENT }), keys.signer);
    const message = HTTP.binary(new CloudEvent(event));
    const sent = Object.entries(message.headers as Record<string, string>).filter(([name]) => name.startsWith('ce-'));
    const documented = webhook.parameters.filter((parameter: any) => parameter.in === 'header');
    expect(documented.map((parameter: any) => parameter.name).sort()).toEqual(sent.map(([name]) => name).sort());
    for (const [name, value] of sent) {
      const parameter = documented.find((entry: any) => entry.name === name);
      expect(validator.errors(parameter.schema, value), name).toEqual([]);
    }
    expect(Object.keys(webhook.requestBody.content)).toEqual([(message.headers as Record<string, string>)['content-type']?.split(';')[0]]);
    expect(userLoginEventData.safeParse(webhook.requestBody.content['application/json'].examples['ada-signs-in'].value).success).toBe(true);
    expect(webhook.requestBody.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/UserLoginEventData' });
  });
});

describe('the account email webhooks', () => {
  it.each(EVENT_CATALOGUE.filter((entry) => entry.authenticity.kind === 'sealed').map((entry) => [entry.type, entry] as const))(
    '%s: documents every header of the binary content mode, as each producer writes them',
    async (type, entry) => {
      const webhook = document.webhooks[type].post;
      const documented = webhook.parameters.filter((parameter: any) => parameter.in === 'header');
      const content = { email: 'ada@example.com', name: 'Ada', token: 'x'.repeat(43), expiresAt: '2026-11-27T10:30:00.000Z', previousEmail: 'ada@example.com', newEmail: 'ada@new.example', changedAt: '2026-11-27T09:30:00.000Z' };
      for (const producer of entry.producers) {
        const event = await buildAccountEmailEvent(type as AccountEmailEventType, eventSourceOf(producer), exampleAccountEmailEventData.userId, content as never, new Uint8Array(randomBytes(32)), { traceparent: EXAMPLE_TRACEPARENT });
        const sent = Object.entries(HTTP.binary(new CloudEvent(event)).headers as Record<string, string>).filter(([name]) => name.startsWith('ce-'));
        expect(documented.map((parameter: any) => parameter.name).sort(), producer).toEqual(sent.map(([name]) => name).sort());
        for (const [name, value] of sent) expect(validator.errors(documented.find((parameter: any) => parameter.name === name).schema, value), `${producer} ${name}`).toEqual([]);
      }
    },
  );
});

function run(command: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: ROOT,
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
