import type { z } from 'zod';
import packageJson from '../../package.json' with { type: 'json' };
import { INVENTORY, type FunctionSpec } from '../inventory.js';
import { BODY_LIMIT_BYTES } from '../shared/http/errors.js';
import { PROBLEM_CONTENT_TYPE, problemFor } from '../shared/http/problem.js';
import { ADA_ETAG, ALAN } from './examples.js';
import type { BodyDoc, DomainDoc, OperationDoc, ProblemDoc, SuccessDoc } from './operation.js';
import { componentSchemas, inputProperties, type JsonSchema } from './schemas.js';
import { eventWebhooks } from './webhooks.js';

/**
 * The OpenAPI 3.1 description of every HTTP function, and of every CloudEvent of the event catalogue
 * as a webhook (webhooks.ts). Paths, methods, operation ids, tags and summaries come from the inventory; each
 * operation's description from its folder (`functions/<domain>/<name>/openapi.ts`), each tag's
 * from its domain's (`functions/<domain>/openapi.ts`); request bodies and query parameters from the
 * functions' own zod schemas; responses from zod response schemas. `npm run openapi` writes it to
 * openapi.yaml; the local gateway serves it as JSON.
 */

/** Each HTTP function's operation, from its folder, in inventory order; names the folder that does not export one. */
export async function loadOperations(): Promise<Map<string, OperationDoc>> {
  const operations = new Map<string, OperationDoc>();
  for (const spec of INVENTORY.filter((entry) => entry.trigger === 'http')) {
    const module = (await import(`../${spec.domain}/${spec.name}/openapi.ts`)) as { operation?: OperationDoc };
    if (!module.operation) throw new Error(`functions/${spec.domain}/${spec.name}/openapi.ts does not export its \`operation\``);
    operations.set(spec.name, module.operation);
  }
  return operations;
}

async function loadDomains(): Promise<Map<string, DomainDoc>> {
  const domains = new Map<string, DomainDoc>();
  for (const domain of new Set(INVENTORY.map((spec) => spec.domain))) {
    const module = (await import(`../${domain}/openapi.ts`)) as { domain?: DomainDoc };
    if (!module.domain) throw new Error(`functions/${domain}/openapi.ts does not export its \`domain\``);
    domains.set(domain, module.domain);
  }
  return domains;
}

export const DEFAULT_SERVER_URL = 'http://localhost:8080';
/** The first port of the functions' own ports under `make dev` (the runner's FUNCTION_PORT_BASE default). */
const LOCAL_FUNCTION_PORT_BASE = 8081;
const CLUSTER_NAMESPACE = 'accounts';

type Json = Record<string, unknown>;

export interface OpenApiOptions {
  /** The URL of the gateway serving the document (default http://localhost:8080). */
  readonly serverUrl?: string;
}

/** The OpenAPI document: the same options and sources give the same document. */
export async function buildOpenApiDocument(options: OpenApiOptions = {}): Promise<Record<string, unknown>> {
  const operations = await loadOperations();
  const domainDocs = await loadDomains();
  const http = INVENTORY.filter((spec) => spec.trigger === 'http');
  const requests = new Map<string, z.ZodType>();
  const responses = new Map<string, z.ZodType>();
  const collect = (into: Map<string, z.ZodType>, body: BodyDoc): void => {
    const known = into.get(body.component) ?? requests.get(body.component) ?? responses.get(body.component);
    if (known && known !== body.schema) throw new Error(`two different schemas are named ${body.component}`);
    into.set(body.component, body.schema);
  };

  const paths: Record<string, Json> = {};
  for (const spec of http) {
    const doc = operations.get(spec.name) as OperationDoc;
    if (doc.requestBody) collect(requests, doc.requestBody);
    for (const response of doc.responses) if (response.body) collect(responses, response.body);
    const item = (paths[spec.path] ??= {});
    item[spec.method.toLowerCase()] = operation(spec, doc);
  }
  for (const [path, item] of Object.entries(paths)) {
    const methods = Object.keys(item).map((method) => method.toUpperCase());
    paths[path] = {
      description: `Any other method answers 405 (\`application/problem+json\`) with \`Allow\` naming ${methods.join(', ')}.`,
      ...item,
    };
  }

  const domains = [...new Set(INVENTORY.map((spec) => spec.domain))];
  return {
    openapi: '3.1.1',
    info: {
      title: 'knative-accounts',
      version: packageJson.version,
      summary: 'User accounts, sign-in and sign-in alerts as Knative functions',
      description: infoDescription(),
      license: licenseOf(packageJson as { readonly license?: string }),
    },
    servers: [{ url: options.serverUrl ?? DEFAULT_SERVER_URL, description: 'make dev gateway' }],
    tags: domains.map((domain) => ({ name: domain, description: domainDocs.get(domain)?.description })),
    paths,
    webhooks: eventWebhooks({ schemaRef, problemResponse }),
    components: {
      schemas: componentSchemas(requests, responses),
      headers: HEADERS,
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            'An access token from `POST /auth/login`, as `Authorization: Bearer <token>`. Every function verifies it ' +
            'locally against the public key (`GET /auth/jwks`): signature, issuer, audience and expiry.',
        },
        serviceToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'service+jwt',
          description:
            'A function calling a cluster-local function: a JWT of `typ` `service+jwt` that the calling function signs ' +
            'with the auth key, its name in `sub`, the called function in `aud`, valid one minute. The called function ' +
            'verifies it with the public key and accepts only the callers its inventory entry names.',
        },
      },
    },
  };
}

function licenseOf(pkg: { readonly license?: string }): Json {
  if (!pkg.license) throw new Error('package.json names no license');
  return { name: pkg.license, identifier: pkg.license };
}

function infoDescription(): string {
  return [
    'User accounts, sign-in and sign-in alerts. Each operation is one stateless function (its `operationId` is the ' +
      'function\'s name) deployed as its own Knative Service; this document is generated from the function inventory ' +
      'and the zod schemas the functions validate with (`npm run openapi`).',
    '**Authentication**: sign in with `POST /auth/login` for a short-lived access token (a JWT), and send it as ' +
      '`Authorization: Bearer <token>`. A user may read, change and delete themself; an admin anyone.',
    '**Errors** are RFC 9457 `application/problem+json`. Validation failures list every field at fault in `errors` ' +
      `(JSON pointers). Unknown fields are refused; bodies over ${BODY_LIMIT_BYTES} bytes answer 413 before they are ` +
      'read; malformed JSON answers 400 and a body that is not JSON 415. A path no function owns answers 404, a method ' +
      'a path does not take 405 with `Allow`. The `make dev` gateway answers 502 while a function restarts.',
    '**Versions**: `GET`, `POST` and `PATCH` answer an `ETag`. `If-None-Match` on `GET` answers 304 while it matches; ' +
      '`If-Match` on `PATCH` and `DELETE` answers 412 when it does not, and nothing changes.',
    '**Tracing**: every answer carries `X-Request-Id` (the caller\'s, or a new one) and a W3C `traceparent`; send ' +
      '`traceparent` to continue your trace. Every function also answers `GET /healthz` and `GET /readyz`.',
    '**Internal operations** (`x-internal: true`) are cluster-local: neither the cluster ingress nor the `make dev` ' +
      'gateway exposes them; they are documented for the functions that call them.',
  ].join('\n\n');
}

const HEADERS: Json = {
  ETag: {
    description: 'The version of the resource, an opaque quoted entity tag: send it back in `If-Match` or `If-None-Match`.',
    required: true,
    schema: { type: 'string', pattern: '^"[^"]+"$' },
    example: ADA_ETAG,
  },
  Location: {
    description: 'The path of the new user.',
    required: true,
    schema: { type: 'string', pattern: '^/users/[0-9a-f-]{36}$' },
    example: `/users/${ALAN.record.id}`,
  },
  'WWW-Authenticate': {
    description: 'The Bearer challenge; with `error="invalid_token"` when a token was sent but is not valid.',
    required: true,
    schema: { type: 'string', enum: ['Bearer', 'Bearer error="invalid_token"'] },
    example: 'Bearer',
  },
  'Retry-After': {
    description: 'Seconds to wait before trying again.',
    required: true,
    schema: { type: 'integer', minimum: 1 },
    example: 840,
  },
};

function operation(spec: FunctionSpec, doc: OperationDoc): Json {
  const internal = spec.visibility === 'cluster-local';
  const parameters = [...pathParameters(spec, doc), ...queryParameters(doc), ...conditionalHeaders(doc)];
  return {
    operationId: spec.name,
    tags: [spec.domain],
    summary: spec.summary,
    description: doc.description,
    ...(internal
      ? {
          'x-internal': true,
          servers: [
            {
              url: `http://localhost:${LOCAL_FUNCTION_PORT_BASE + INVENTORY.findIndex((entry) => entry.name === spec.name)}`,
              description: `make dev: ${spec.name} at its own port (the gateway does not route to it)`,
            },
            { url: `http://${spec.name}.${CLUSTER_NAMESPACE}.svc.cluster.local`, description: 'in the cluster: its cluster-local address' },
          ],
        }
      : {}),
    security: doc.auth === 'bearer' ? [{ bearerAuth: [] }] : doc.auth === 'service' ? [{ serviceToken: [] }] : [],
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(doc.requestBody ? { requestBody: requestBody(doc.requestBody) } : {}),
    responses: responsesOf(doc),
  };
}

function pathParameters(spec: FunctionSpec, doc: OperationDoc): Json[] {
  const names = [...spec.path.matchAll(/\{(\w+)\}/g)].map((match) => match[1] as string);
  return names.map((name) => {
    const param = doc.pathParameters?.[name];
    if (!param) throw new Error(`${spec.name}: no description for path parameter ${name}`);
    return {
      name,
      in: 'path',
      required: true,
      description: param.description,
      schema: { type: 'string', ...(param.format ? { format: param.format } : {}) },
      example: param.example,
    };
  });
}

function queryParameters(doc: OperationDoc): Json[] {
  if (!doc.query) return [];
  const { properties, required } = inputProperties(doc.query.schema);
  return Object.entries(properties).map(([name, schema]) => {
    const param = doc.query?.parameters[name];
    if (!param) throw new Error(`no description for query parameter ${name}`);
    return { name, in: 'query', required: required.includes(name), description: param.description, schema, example: param.example };
  });
}

function conditionalHeaders(doc: OperationDoc): Json[] {
  return Object.entries(doc.conditionalHeaders ?? {}).map(([name, description]) => ({
    name,
    in: 'header',
    required: false,
    description,
    schema: { type: 'string' },
    example: ADA_ETAG,
  }));
}

const schemaRef = (component: string): Json => ({ $ref: `#/components/schemas/${component}` });

function content(body: BodyDoc): Json {
  return {
    [body.contentType ?? 'application/json']: {
      schema: schemaRef(body.component),
      examples: Object.fromEntries(Object.entries(body.examples).map(([name, example]) => [name, { ...example }])),
    },
  };
}

function requestBody(body: BodyDoc): Json {
  return { required: true, ...(body.description ? { description: body.description } : {}), content: content(body) };
}

function responsesOf(doc: OperationDoc): Json {
  const entries: [number, Json][] = [
    ...doc.responses.map((response): [number, Json] => [response.status, successResponse(response)]),
    ...doc.problems.map((problem): [number, Json] => [problem.status, problemResponse(problem)]),
  ];
  const statuses = entries.map(([status]) => status);
  if (new Set(statuses).size !== statuses.length) throw new Error(`a status is documented twice: ${statuses.join(', ')}`);
  return Object.fromEntries(entries.sort(([a], [b]) => a - b).map(([status, response]) => [String(status), response]));
}

function successResponse(response: SuccessDoc): Json {
  const headers: Json = {};
  if (response.headers?.location) headers['Location'] = { $ref: '#/components/headers/Location' };
  if (response.headers?.etag) headers['ETag'] = { $ref: '#/components/headers/ETag' };
  if (response.headers?.cacheControl) {
    headers['Cache-Control'] = {
      description: `Always \`${response.headers.cacheControl}\`.`,
      required: true,
      schema: { type: 'string', const: response.headers.cacheControl },
    };
  }
  return {
    description: response.description,
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
    ...(response.body ? { content: content(response.body) } : {}),
  };
}

const problemType = (code: string): string => problemFor(400, code, '').type;

/** The Problem schema, narrowed to this status and the problem types it carries here. */
export function problemSchemaFor(problem: Pick<ProblemDoc, 'status' | 'codes'>): JsonSchema {
  const narrowed: JsonSchema = {
    properties: {
      status: { const: problem.status },
      type: problem.codes.length === 1 ? { const: problemType(problem.codes[0] as string) } : { enum: problem.codes.map(problemType) },
    },
  };
  if (problem.codes.includes('validation-failed')) {
    // Validation failures always name the fields at fault; the other problems of the status need not.
    const withErrors = { properties: { errors: { minItems: 1 } }, required: ['errors'] };
    const others = problem.codes.filter((code) => code !== 'validation-failed').map(problemType);
    if (others.length === 0) {
      Object.assign(narrowed['properties'] as JsonSchema, withErrors.properties);
      narrowed['required'] = withErrors.required;
    }
    else narrowed['anyOf'] = [{ properties: { type: others.length === 1 ? { const: others[0] } : { enum: others } } }, withErrors];
  }
  return { allOf: [schemaRef('Problem'), narrowed] };
}

function problemResponse(problem: ProblemDoc): Json {
  const headers: Json = Object.fromEntries((problem.headers ?? []).map((name) => [name, { $ref: `#/components/headers/${name}` }]));
  // Sent with some of this status's problems only: the component's description and schema, not required.
  for (const name of problem.optionalHeaders ?? []) headers[name] = { ...(HEADERS[name] as Json), required: false };
  return {
    description: problem.description,
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
    content: {
      [PROBLEM_CONTENT_TYPE]: {
        schema: problemSchemaFor(problem),
        examples: Object.fromEntries(Object.entries(problem.examples).map(([name, example]) => [name, { ...example }])),
      },
    },
  };
}
