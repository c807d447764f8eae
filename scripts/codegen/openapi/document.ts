import type { z } from 'zod';
import packageJson from '../../../package.json' with { type: 'json' };
import { INVENTORY, type FunctionSpec } from '../../../functions/inventory.js';
import { BODY_LIMIT_BYTES } from '../../../functions/shared/http/errors.js';
import { PROBLEM_CONTENT_TYPE, problemFor, type ProblemType } from '../../../functions/shared/http/problem.js';
import type { AnswerDeclaration, HttpFunctionDefinition, SuccessStatus } from '../../../functions/shared/runtime/definition.js';
import { ADA_ETAG, ALAN } from './examples.js';
import type { AnswerDoc, BodyDoc, DomainDoc, OperationDoc, ProblemDoc, ProblemExample } from './operation.js';
import {
  BODY_TOO_LARGE,
  callerRefused,
  DEPENDENCY_UNAVAILABLE,
  INTERNAL_ERROR,
  invalidInput,
  problemDoc,
  UNSUPPORTED_MEDIA_TYPE,
  type ImpliedProblems,
} from './problems.js';
import { componentSchemas, inputProperties, type JsonSchema } from './schemas.js';
import { eventWebhooks } from './webhooks.js';

/**
 * The OpenAPI 3.1 description of every HTTP function, and of every CloudEvent of the event catalogue
 * as a webhook (webhooks.ts), derived from the declarations: paths, methods, operation ids, tags,
 * summaries and who may call from the inventory; parameters, bodies, answers (statuses, schemas,
 * headers) and problems from each function's index.ts; what only words can say (descriptions,
 * examples, component names) from `operations/<domain>/<name>.ts`, each tag's from
 * `operations/<domain>/domain.ts`. `npm run openapi` writes it to openapi.yaml; the local gateway
 * serves it as JSON.
 */

/** An HTTP function as the document sees it: its inventory entry, its declaration and its words. */
export interface DocumentedFunction {
  readonly spec: FunctionSpec;
  readonly definition: HttpFunctionDefinition;
  readonly doc: OperationDoc;
}

/** Each HTTP function's declaration and words, in inventory order; names the file that lacks one. */
export async function loadOperations(): Promise<Map<string, DocumentedFunction>> {
  const operations = new Map<string, DocumentedFunction>();
  for (const spec of INVENTORY.filter((entry) => entry.trigger === 'http')) {
    const declared = (await import(`../../../functions/${spec.domain}/${spec.name}/index.ts`)) as { definition?: HttpFunctionDefinition };
    if (declared.definition?.kind !== 'http') throw new Error(`functions/${spec.domain}/${spec.name}/index.ts does not export its HTTP \`definition\``);
    const words = (await import(`./operations/${spec.domain}/${spec.name}.ts`)) as { operation?: OperationDoc };
    if (!words.operation) throw new Error(`scripts/codegen/openapi/operations/${spec.domain}/${spec.name}.ts does not export its \`operation\``);
    operations.set(spec.name, { spec, definition: declared.definition, doc: words.operation });
  }
  return operations;
}

async function loadDomains(): Promise<Map<string, DomainDoc>> {
  const domains = new Map<string, DomainDoc>();
  for (const domain of new Set(INVENTORY.map((spec) => spec.domain))) {
    const module = (await import(`./operations/${domain}/domain.ts`)) as { domain?: DomainDoc };
    if (!module.domain) throw new Error(`scripts/codegen/openapi/operations/${domain}/domain.ts does not export its \`domain\``);
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
  const requests = new Map<string, z.ZodType>();
  const responses = new Map<string, z.ZodType>();
  const collect = (into: Map<string, z.ZodType>, component: string, schema: z.ZodType): void => {
    const known = into.get(component) ?? requests.get(component) ?? responses.get(component);
    if (known && known !== schema) throw new Error(`two different schemas are named ${component}`);
    into.set(component, schema);
  };

  const paths: Record<string, Json> = {};
  for (const documented of operations.values()) {
    const { spec, definition } = documented;
    if (definition.request.body) collect(requests, requestBodyDoc(documented).component, definition.request.body);
    for (const [status, answer] of declaredAnswers(definition)) {
      if (answer.body) collect(responses, answerBodyDoc(documented, status).component, answer.body);
    }
    const item = (paths[spec.path] ??= {});
    item[spec.method.toLowerCase()] = describeOperation(documented);
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

/** One function's operation object: its declaration, in its words. Throws where the two disagree. */
export function describeOperation(documented: DocumentedFunction): Json {
  const { spec, definition, doc } = documented;
  const internal = spec.visibility === 'cluster-local';
  const parameters = [...pathParameters(documented), ...queryParameters(documented), ...conditionalHeaders(documented)];
  for (const name of Object.keys(doc.parameters ?? {})) {
    if (!parameters.some((parameter) => parameter['name'] === name)) throw new Error(`${spec.name}: describes a parameter ${name} it does not declare`);
  }
  if (doc.requestBody && !definition.request.body) throw new Error(`${spec.name}: describes a body it does not declare`);
  const callers = spec.callers;
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
    security: callers.kind === 'bearer' ? [{ bearerAuth: [] }] : callers.kind === 'service' ? [{ serviceToken: [] }] : [],
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(definition.request.body ? { requestBody: requestBody(requestBodyDoc(documented)) } : {}),
    responses: responsesOf(documented),
  };
}

/** The words for a declared parameter (path or query); refuses one the declaration does not have, and a declared one without words. */
function parameterDoc(documented: DocumentedFunction, name: string): { description: string; example: string | number } {
  const param = documented.doc.parameters?.[name];
  if (!param) throw new Error(`${documented.spec.name}: no description for parameter ${name}`);
  return param;
}

function pathParameters(documented: DocumentedFunction): Json[] {
  const { spec, definition } = documented;
  const names = [...spec.path.matchAll(/\{(\w+)\}/g)].map((match) => match[1] as string);
  const declared = definition.request.params ? inputProperties(definition.request.params).properties : {};
  if (Object.keys(declared).sort().join() !== [...names].sort().join()) {
    throw new Error(`${spec.name}: its declared path parameters (${Object.keys(declared).join(', ')}) are not those of ${spec.path}`);
  }
  return names.map((name) => {
    // The words are the parameter's (its description), the schema only says what it takes.
    const schema = Object.fromEntries(Object.entries(declared[name] as JsonSchema).filter(([key]) => key !== 'description'));
    const param = parameterDoc(documented, name);
    return { name, in: 'path', required: true, description: param.description, schema, example: param.example };
  });
}

function queryParameters(documented: DocumentedFunction): Json[] {
  const query = documented.definition.request.query;
  if (!query) return [];
  const { properties, required } = inputProperties(query);
  return Object.entries(properties).map(([name, schema]) => {
    const param = parameterDoc(documented, name);
    return { name, in: 'query', required: required.includes(name), description: param.description, schema, example: param.example };
  });
}

function conditionalHeaders(documented: DocumentedFunction): Json[] {
  const { spec, definition, doc } = documented;
  const declared = definition.request.conditional ?? [];
  for (const name of Object.keys(doc.conditionalHeaders ?? {})) {
    if (!declared.includes(name as never)) throw new Error(`${spec.name}: describes ${name}, which its declaration does not read`);
  }
  return declared.map((name) => {
    const description = doc.conditionalHeaders?.[name];
    if (!description) throw new Error(`${spec.name}: no description for ${name}`);
    return { name, in: 'header', required: false, description, schema: { type: 'string' }, example: ADA_ETAG };
  });
}

const schemaRef = (component: string): Json => ({ $ref: `#/components/schemas/${component}` });

function requestBodyDoc({ spec, doc }: DocumentedFunction): BodyDoc {
  if (!doc.requestBody) throw new Error(`${spec.name}: no words for its declared body`);
  return doc.requestBody;
}

/** The declared answers, by status. */
function declaredAnswers(definition: HttpFunctionDefinition): [SuccessStatus, AnswerDeclaration][] {
  return Object.entries(definition.answers).map(([status, answer]) => [Number(status) as SuccessStatus, answer as AnswerDeclaration]);
}

function answerDoc({ spec, doc }: DocumentedFunction, status: SuccessStatus): AnswerDoc {
  const words = doc.answers[status];
  if (!words) throw new Error(`${spec.name}: no description for its declared ${status}`);
  return words;
}

function answerBodyDoc(documented: DocumentedFunction, status: SuccessStatus): BodyDoc {
  const body = answerDoc(documented, status).body;
  if (!body) throw new Error(`${documented.spec.name}: no component name and examples for the body of its ${status}`);
  return body;
}

function content(body: BodyDoc, contentType = 'application/json'): Json {
  return {
    [contentType]: {
      schema: schemaRef(body.component),
      examples: Object.fromEntries(Object.entries(body.examples).map(([name, example]) => [name, { ...example }])),
    },
  };
}

function requestBody(body: BodyDoc): Json {
  return { required: true, ...(body.description ? { description: body.description } : {}), content: content(body) };
}

function responsesOf(documented: DocumentedFunction): Json {
  const { spec, definition, doc } = documented;
  const declared = declaredAnswers(definition);
  for (const status of Object.keys(doc.answers)) {
    if (!declared.some(([answered]) => String(answered) === status)) throw new Error(`${spec.name}: describes a ${status} it does not declare`);
  }
  const entries: [number, Json][] = [
    ...declared.map(([status, answer]): [number, Json] => [status, successResponse(documented, status, answer)]),
    ...problemsOf(documented).map((problem): [number, Json] => [problem.status, problemResponse(problem)]),
  ];
  const statuses = entries.map(([status]) => status);
  if (new Set(statuses).size !== statuses.length) throw new Error(`${spec.name}: a status is documented twice: ${statuses.join(', ')}`);
  return Object.fromEntries(entries.sort(([a], [b]) => a - b).map(([status, response]) => [String(status), response]));
}

function successResponse(documented: DocumentedFunction, status: SuccessStatus, answer: AnswerDeclaration): Json {
  const words = answerDoc(documented, status);
  const headers: Json = {};
  if (answer.headers?.includes('Location')) headers['Location'] = { $ref: '#/components/headers/Location' };
  if (answer.headers?.includes('ETag')) headers['ETag'] = { $ref: '#/components/headers/ETag' };
  if (answer.cacheControl) {
    headers['Cache-Control'] = {
      description: `Always \`${answer.cacheControl}\`.`,
      required: true,
      schema: { type: 'string', const: answer.cacheControl },
    };
  }
  return {
    description: words.description,
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
    ...(answer.body ? { content: content(answerBodyDoc(documented, status), answer.contentType) } : {}),
  };
}

/**
 * The problem statuses of an operation: those its declaration implies (a parsed request, its caller
 * rule, a body, every function's 500, a database's 503), then the problems it declares, each status
 * described by the implied text followed by its words (or by its words alone).
 */
export function problemsOf(documented: DocumentedFunction): ProblemDoc[] {
  const { spec, definition, doc } = documented;
  const implied = new Map<number, ImpliedProblems>();
  const { body, query } = definition.request;
  if (body || query) {
    if (doc.invalidInput === undefined) throw new Error(`${spec.name}: no invalid example for its 400 (\`invalidInput\`)`);
    implied.set(400, invalidInput(body ? 'request body' : 'query', (body ?? query) as z.ZodType, doc.invalidInput));
  }
  const refused = callerRefused(spec.callers);
  if (refused) implied.set(401, refused);
  if (body) {
    implied.set(413, BODY_TOO_LARGE);
    implied.set(415, UNSUPPORTED_MEDIA_TYPE);
  }
  implied.set(500, INTERNAL_ERROR);
  if ((spec.needs as readonly string[]).includes('database')) implied.set(503, DEPENDENCY_UNAVAILABLE);

  const declared = new Map<number, ProblemType[]>();
  for (const problem of definition.problems) declared.set(problem.status, [...(declared.get(problem.status) ?? []), problem]);
  for (const status of Object.keys(doc.problems ?? {}).map(Number)) {
    if (!implied.has(status) && !declared.has(status)) throw new Error(`${spec.name}: describes a ${status} it neither declares nor implies`);
  }
  const statuses = [...new Set([...implied.keys(), ...declared.keys()])].sort((a, b) => a - b);
  return statuses.map((status) => {
    const words = doc.problems?.[status];
    const text = typeof words === 'string' ? words : words?.description;
    const more: readonly ProblemExample[] = typeof words === 'object' ? (words.examples ?? []) : [];
    const standard = implied.get(status);
    if (!standard && !text) throw new Error(`${spec.name}: no description for its ${status} (${declared.get(status)?.map((problem) => problem.name).join(', ')})`);
    const description = standard ? (text ? `${standard.description} ${text}` : standard.description) : (text as string);
    return problemDoc(description, ...(standard?.examples ?? []), ...(declared.get(status) ?? []), ...more);
  });
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
