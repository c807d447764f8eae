import { spawn } from 'node:child_process';
import { access, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/**
 * `npm run new-function -- NAME --domain D --http METHOD PATH` (or `--cloudevent TYPE`): writes
 * `functions/D/NAME/` with a working, tested skeleton (declaration, handler, schema and tests) and,
 * for HTTP, its words in the API document (scripts/codegen/openapi/operations/D/NAME.ts), adds the
 * function's inventory entry, and regenerates what derives from the
 * inventory (its Knative Service and rollout state, openapi.yaml, the README's function table), and for a CloudEvent
 * function its Trigger in eventing/. The function then
 * serves under `make dev`, is documented and deployable, and `make test` passes, before its logic
 * is written. Knative's `func create` is the model.
 */

const HTTP_METHODS = ['GET', 'POST', 'PATCH', 'DELETE'] as const;
type HttpMethod = (typeof HTTP_METHODS)[number];

export type Scaffold =
  | { readonly kind: 'http'; readonly name: string; readonly domain: string; readonly method: HttpMethod; readonly path: string }
  | { readonly kind: 'cloudevent'; readonly name: string; readonly domain: string; readonly eventType: string };

const USAGE =
  'usage: npm run new-function -- NAME --domain DOMAIN --http METHOD PATH\n' +
  '       npm run new-function -- NAME --domain DOMAIN --cloudevent TYPE\n' +
  '  e.g. npm run new-function -- users-export --domain users --http GET /users/{id}/export';

/** Reads the command line; throws a message naming what is wrong. */
export function parseScaffoldArgs(argv: readonly string[]): Scaffold {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: { domain: { type: 'string' }, http: { type: 'string' }, cloudevent: { type: 'string' } },
  });
  const [name, path, ...rest] = positionals;
  const problems: string[] = [];
  if (!name || !/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name)) problems.push('NAME must be a Knative service name: lowercase letters, digits and dashes');
  if (!values.domain || !/^[a-z][a-z0-9]*$/.test(values.domain)) problems.push('--domain must be lowercase letters and digits');
  if ((values.http === undefined) === (values.cloudevent === undefined)) problems.push('say one of --http METHOD PATH or --cloudevent TYPE');
  if (rest.length > 0) problems.push(`unexpected arguments: ${rest.join(' ')}`);
  if (values.http !== undefined) {
    if (!(HTTP_METHODS as readonly string[]).includes(values.http.toUpperCase())) problems.push(`METHOD must be one of ${HTTP_METHODS.join(', ')}`);
    if (!path || !/^\/[A-Za-z0-9\-._~/{}]*$/.test(path) || /\{(?!\w+\})/.test(path)) problems.push('PATH must start with / and name its parameters as {param}');
  } else if (values.cloudevent !== undefined && !/^[\w.-]+$/.test(values.cloudevent)) {
    problems.push('TYPE must be a CloudEvent type: letters, digits, dots, dashes and underscores');
  }
  if (problems.length > 0) throw new Error(`${problems.join('\n')}\n${USAGE}`);
  return values.http !== undefined
    ? { kind: 'http', name: name as string, domain: values.domain as string, method: values.http.toUpperCase() as HttpMethod, path: path as string }
    : { kind: 'cloudevent', name: name as string, domain: values.domain as string, eventType: values.cloudevent as string };
}

/** Where the API document's words for each domain and HTTP function live. */
const OPERATION_DOCS = 'scripts/codegen/openapi/operations';

const pascal = (name: string) => name.replace(/(^|-)([a-z0-9])/g, (_match, _dash: string, letter: string) => letter.toUpperCase());
const camel = (name: string) => pascal(name).replace(/^./, (letter) => letter.toLowerCase());
const paramsOf = (path: string) => [...path.matchAll(/\{(\w+)\}/g)].map((match) => match[1] as string);
const hasBody = (method: HttpMethod) => method === 'POST' || method === 'PATCH';

/** The inventory entry, as a new element of the INVENTORY array. */
export function inventoryEntry(scaffold: Scaffold): string {
  const common = [`    name: '${scaffold.name}',`, `    domain: '${scaffold.domain}',`];
  if (scaffold.kind === 'http') {
    return [
      '  {',
      '    ...DEFAULTS,',
      ...common,
      "    trigger: 'http',",
      `    method: '${scaffold.method}',`,
      `    path: '${scaffold.path}',`,
      `    summary: '${scaffold.name}: answers what it is sent (a scaffold: say what it does)',`,
      "    callers: ANYONE,",
      "    scalingNote: 'the defaults of a new function: set them once it does real work',",
      '  },',
    ].join('\n');
  }
  return [
    '  {',
    '    ...DEFAULTS,',
    '    ...CLOUDEVENT,',
    ...common,
    `    summary: '${scaffold.name}: takes ${scaffold.eventType} (a scaffold: say what it does)',`,
    `    eventSource: 'Trigger on \`${scaffold.eventType}\`',`,
    "    scalingNote: 'the defaults of a new function: set them once it does real work',",
    '  },',
  ].join('\n');
}

/** The files of the new function's folder, by name. */
export function folderFiles(scaffold: Scaffold): Record<string, string> {
  return scaffold.kind === 'http' ? httpFiles(scaffold) : cloudEventFiles(scaffold);
}

function httpFiles(scaffold: Extract<Scaffold, { kind: 'http' }>): Record<string, string> {
  const { name, method, path } = scaffold;
  const type = pascal(name);
  const schema = `${camel(name)}${hasBody(method) ? 'Body' : 'Query'}`;
  const params = paramsOf(path);
  const paramTypes = params.map((param) => `  readonly ${param}: string;\n`).join('');
  const paramValues = params.map((param) => `    ${param}: request.params.${param},\n`).join('');
  const where = hasBody(method) ? 'request body' : 'query';
  const examplePath = path.replace(/\{(\w+)\}/g, 'example');
  return {
    'schema.ts': `import { z } from 'zod';

/** What ${name} reads from its ${where}. Unknown fields are refused. */
export const ${schema} = z.strictObject({
  message: z.string().trim().min(1).max(200)${hasBody(method) ? '' : '.optional()'},
});

${params.length > 0 ? `/** The parameters of ${name}'s path. */\nexport const ${camel(name)}Params = z.object({\n${params.map((param) => `  ${param}: z.string(),\n`).join('')}});\n\n` : ''}/** What ${name} answers. */
export const ${camel(name)}Response = z.strictObject({
  message: z.string()${hasBody(method) ? '' : '.optional()'},
${params.map((param) => `  ${param}: z.string(),\n`).join('')}  receivedAt: z.iso.datetime(),
});
`,
    'handler.ts': `/** What ${name} needs; add what its logic uses (database, tokens, ...) and name it in its inventory entry. */
export interface ${type}Deps {
  readonly now: () => Date;
}

export interface ${type}Input {
  readonly message${hasBody(method) ? '' : '?'}: string;
${paramTypes}}

export interface ${type}Output extends ${type}Input {
  readonly receivedAt: string;
}

/** The function's logic. The skeleton answers what it was given, with the time it arrived. */
export async function handle(deps: ${type}Deps, input: ${type}Input): Promise<${type}Output> {
  return { ...input, receivedAt: deps.now().toISOString() };
}
`,
    'index.ts': `import { specOf } from '../../inventory.js';
${params.length > 0 ? "import { HttpProblems } from '../../shared/http/errors.js';\n" : ''}import { defineHttpFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { handle } from './handler.js';
import { ${camel(name)}Response, ${schema}${params.length > 0 ? `, ${camel(name)}Params` : ''} } from './schema.js';

export const definition = defineHttpFunction(specOf('${name}'), {
  request: { ${params.length > 0 ? `params: ${camel(name)}Params, ` : ''}${hasBody(method) ? 'body' : 'query'}: ${schema} },
  answers: { 200: { body: ${camel(name)}Response } },
${params.length > 0 ? '  // A path parameter that is not percent-encoded UTF-8 names nothing here.\n  problems: [HttpProblems.notFound],\n' : ''}  input: (request) => ({
    ...request.${hasBody(method) ? 'body' : 'query'},
${paramValues}  }),
  handle,
  output: (result) => ({ status: 200, body: result }),
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
`,
    [`${name}.test.ts`]: `import { describe, expect, it } from 'vitest';
import { useFunctionSuite } from '../../../test/support/function-suite.js';
import { call } from '../../../test/support/http.js';
import { testPostgresServers } from '../../../test/support/postgres.js';
import { handle } from './handler.js';
import { definition } from './index.js';

describe('${name}', () => {
  const suite = useFunctionSuite(definition, testPostgresServers()[0]!.adminUrl, () => ({}));

  it('answers what it is sent, with the time it arrived', async () => {
    const response = await call(${hasBody(method) ? `\`\${suite.fn.url}${examplePath}\`, { method: '${method}', body: { message: 'hello' } }` : `\`\${suite.fn.url}${examplePath}?message=hello\`, { method: '${method}' }`});
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ message: 'hello'${params.map((param) => `, ${param}: 'example'`).join('')} });
    expect(Date.parse(response.body.receivedAt)).not.toBeNaN();
  });

  it('refuses input its schema does not take with 400 problem+json naming the field', async () => {
    const response = await call(${hasBody(method) ? `\`\${suite.fn.url}${examplePath}\`, { method: '${method}', body: { message: '', extra: 1 } }` : `\`\${suite.fn.url}${examplePath}?message=&extra=1\`, { method: '${method}' }`});
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(response.body.errors.map((error: { pointer: string }) => error.pointer).sort()).toEqual(['#/extra', '#/message']);
  });

  it('keeps its logic free of HTTP: handle takes plain input', async () => {
    const now = () => new Date('2026-11-28T10:00:00.000Z');
    expect(await handle({ now }, { message: 'hi'${params.map((param) => `, ${param}: 'x'`).join('')} })).toEqual({ message: 'hi'${params.map((param) => `, ${param}: 'x'`).join('')}, receivedAt: '2026-11-28T10:00:00.000Z' });
  });
});
`,
  };
}

function cloudEventFiles(scaffold: Extract<Scaffold, { kind: 'cloudevent' }>): Record<string, string> {
  const { name, eventType } = scaffold;
  const type = pascal(name);
  const dataSchema = `${camel(name)}Data`;
  return {
    'schema.ts': `import { z } from 'zod';

/** The data of a \`${eventType}\` event, as ${name} reads it. */
export const ${dataSchema} = z.strictObject({
  message: z.string().min(1).max(200),
});

export type ${type}Data = z.output<typeof ${dataSchema}>;
`,
    'handler.ts': `import type { EventOutcome } from '../../shared/runtime/definition.js';
import type { Logger } from '../../shared/logging.js';
import type { ${type}Data } from './schema.js';

/** What ${name} needs; add what its logic uses (database, mail, ...) and name it in its inventory entry. */
export interface ${type}Deps {
  readonly logger: Logger;
}

export interface ${type}Input {
  readonly eventId: string;
  readonly data: ${type}Data;
}

/**
 * The function's logic: resolves to acknowledge the event, throws to have the broker deliver it
 * again. The skeleton logs that it got it.
 */
export async function handle(deps: ${type}Deps, input: ${type}Input): Promise<EventOutcome> {
  deps.logger.info('${eventType} received', { eventId: input.eventId });
  return 'handled';
}
`,
    'index.ts': `import { specOf } from '../../inventory.js';
import { readEventData } from '../../shared/events/event-data.js';
import { defineCloudEventFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { handle } from './handler.js';
import { ${dataSchema} } from './schema.js';

export const EVENT_TYPE = '${eventType}';

export const definition = defineCloudEventFunction(specOf('${name}'), {
  input: (event) => readEventData(event, { type: EVENT_TYPE, data: ${dataSchema} }),
  handle,
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
`,
    [`${name}.test.ts`]: `import { CloudEvent, HTTP } from 'cloudevents';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/logging.js';
import { useFunctionSuite } from '../../../test/support/function-suite.js';
import { testPostgresServers } from '../../../test/support/postgres.js';
import { handle } from './handler.js';
import { definition, EVENT_TYPE } from './index.js';

describe('${name}', () => {
  const suite = useFunctionSuite(definition, testPostgresServers()[0]!.adminUrl, () => ({}));
  const deliver = async (type: string, data: unknown): Promise<number> => {
    const message = HTTP.binary(new CloudEvent({ id: crypto.randomUUID(), source: '/test', type, datacontenttype: 'application/json', data }));
    const response = await fetch(\`\${suite.fn.url}/\`, { method: 'POST', headers: message.headers as Record<string, string>, body: message.body as string });
    return response.status;
  };

  it('acknowledges a ${eventType} event (204) and handles it', async () => {
    expect(await deliver(EVENT_TYPE, { message: 'hello' })).toBe(204);
    expect(suite.fn.logs).toContainEqual(expect.objectContaining({ message: 'event', eventType: EVENT_TYPE, outcome: 'handled' }));
  });

  it('acknowledges without effect an event of another type or with data it cannot read, saying why', async () => {
    expect(await deliver('something_else', { message: 'hello' })).toBe(204);
    expect(await deliver(EVENT_TYPE, { message: '' })).toBe(204);
    expect(suite.fn.logs.filter((line) => line['message'] === 'malformed event ignored').map((line) => line['reason'])).toEqual([
      'unexpected type',
      'the data does not match the schema',
    ]);
  });

  it('keeps its logic free of CloudEvents: handle takes plain input', async () => {
    const logger = createLogger({ service: '${name}', revision: 'test', write: () => undefined });
    expect(await handle({ logger }, { eventId: 'e-1', data: { message: 'hi' } })).toBe('handled');
  });
});
`,
  };
}

/** What the API document says of a new HTTP function beyond its declaration (scripts/codegen/openapi/operations/<domain>/<name>.ts). */
export function operationDocFile(scaffold: Extract<Scaffold, { kind: 'http' }>): string {
  const { name, method, path } = scaffold;
  const type = pascal(name);
  const params = paramsOf(path);
  const exampleParams = Object.fromEntries(params.map((param) => [param, 'example']));
  const parameters = [
    ...params.map((param) => `    ${param}: { description: 'The ${param} of the path.', example: 'example' },\n`),
    ...(hasBody(method) ? [] : ["    message: { description: 'Anything to say; it comes back.', example: 'hello' },\n"]),
  ];
  return `import type { OperationDoc } from '../../operation.js';

/** ${name} in the API description: its words and examples (its declaration is functions/${scaffold.domain}/${name}/index.ts). */
export const operation: OperationDoc = {
  description: '${name} answers what it is sent, with the time it arrived. (Scaffolded by \`npm run new-function\`: say what it does.)',
${parameters.length > 0 ? `  parameters: {\n${parameters.join('')}  },\n` : ''}${
    hasBody(method) ? `  requestBody: { component: '${type}Request', examples: { hello: { summary: 'A message', value: { message: 'hello' } } } },\n` : ''
  }  invalidInput: { message: '' },
  answers: {
    200: {
      description: 'What it was sent, with the time it arrived.',
      body: {
        component: '${type}Response',
        examples: { hello: { summary: 'The message back', value: ${JSON.stringify({ message: 'hello', ...exampleParams, receivedAt: '2026-11-28T10:00:00.000Z' })} } },
      },
    },
  },
${params.length > 0 ? "  problems: { 404: 'No such path: a parameter that is not percent-encoded UTF-8, say.' },\n" : ''}};
`;
}

/** A new domain gets its API description (its tag). */
function domainFile(domain: string): string {
  return `import type { DomainDoc } from '../../operation.js';

/** The ${domain} domain in the API description. */
export const domain: DomainDoc = {
  description: 'The ${domain} functions. (Scaffolded by \`npm run new-function\`: say what the domain is for.)',
};
`;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

function run(root: string, script: string, args: readonly string[] = [], env: NodeJS.ProcessEnv = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${script} failed:\n${output}`))));
  });
}

/**
 * Writes the folder and the inventory entry under `root` (the project), then regenerates the
 * files that derive from the inventory. Refuses a name or a route the inventory already has.
 */
export async function scaffoldFunction(root: string, scaffold: Scaffold): Promise<string[]> {
  const inventoryFile = join(root, 'functions', 'inventory.ts');
  const inventory = await readFile(inventoryFile, 'utf8');
  if (inventory.includes(`name: '${scaffold.name}',`)) throw new Error(`the inventory already has a function called ${scaffold.name}`);
  if (scaffold.kind === 'http' && new RegExp(`method: '${scaffold.method}',\\s*path: '${scaffold.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}',`).test(inventory)) {
    throw new Error(`another function already answers ${scaffold.method} ${scaffold.path}`);
  }
  const folder = join(root, 'functions', scaffold.domain, scaffold.name);
  if (await exists(folder)) throw new Error(`functions/${scaffold.domain}/${scaffold.name} already exists`);
  const END = '] as const satisfies readonly FunctionSpec[];';
  if (!inventory.includes(END)) throw new Error(`functions/inventory.ts does not end its INVENTORY with "${END}"`);

  const written: string[] = [];
  await mkdir(folder, { recursive: true });
  // The API document's words for the domain and the function live with its generator, outside the shipped tree.
  const docs = join(root, OPERATION_DOCS, scaffold.domain);
  await mkdir(docs, { recursive: true });
  if (!(await exists(join(docs, 'domain.ts')))) {
    await writeFile(join(docs, 'domain.ts'), domainFile(scaffold.domain));
    written.push(`${OPERATION_DOCS}/${scaffold.domain}/domain.ts`);
  }
  if (scaffold.kind === 'http') {
    await writeFile(join(docs, `${scaffold.name}.ts`), operationDocFile(scaffold));
    written.push(`${OPERATION_DOCS}/${scaffold.domain}/${scaffold.name}.ts`);
  }
  for (const [file, text] of Object.entries(folderFiles(scaffold))) {
    await writeFile(join(folder, file), text);
    written.push(`functions/${scaffold.domain}/${scaffold.name}/${file}`);
  }
  await writeFile(inventoryFile, inventory.replace(END, `${inventoryEntry(scaffold)}\n${END}`));
  written.push('functions/inventory.ts');
  if (scaffold.kind === 'cloudevent') written.push(...(await addTrigger(root, scaffold)));
  // What derives from the inventory: the Knative Service, the API document, the README's table.
  for (const script of ['scripts/manifests.ts', 'scripts/openapi.ts', 'scripts/function-table.ts']) await run(root, script);
  // The rollout state records the new function's revision (no cluster involved), as after any template change.
  // A deploy wants TRUSTED_PROXY_CIDRS: its ConfigMap goes with the scratch folder, any network will do.
  const deployDir = await mkdtemp(join(tmpdir(), 'accounts-new-function-'));
  try {
    await run(root, 'scripts/rollout.ts', ['deploy'], { DEPLOY_DIR: deployDir, ROLLOUT_STATE: join(root, 'knative', 'rollout.yaml'), TRUSTED_PROXY_CIDRS: '10.0.0.0/8' });
  } finally {
    await rm(deployDir, { recursive: true, force: true });
  }
  written.push(`knative/services/${scaffold.name}.yaml`, 'knative/services/kustomization.yaml', 'knative/rollout.yaml', 'openapi.yaml', 'README.md');
  return written;
}

/**
 * The Trigger that brings the function its events, in eventing/ after the others (numbered in
 * apply order) and in its kustomization: the same delivery as every Trigger of the system.
 */
async function addTrigger(root: string, scaffold: Extract<Scaffold, { kind: 'cloudevent' }>): Promise<string[]> {
  const dir = join(root, 'eventing');
  const numbers = (await readdir(dir)).map((file) => /^3(\d\d)-trigger-/.exec(file)?.[1]).filter((n): n is string => n !== undefined).map(Number);
  const file = `3${String(Math.max(0, ...numbers) + 10).padStart(2, '0')}-trigger-${scaffold.name}.yaml`;
  const broker = (/^\s*broker:\s*(\S+)/m.exec(await readFile(join(dir, '300-trigger-login-email-notification.yaml'), 'utf8')) ?? [])[1] ?? 'user-login-event';
  await writeFile(
    join(dir, file),
    `# Brings ${scaffold.name} the ${scaffold.eventType} events (npm run new-function): rename it after the kind of message it carries.
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: ${scaffold.name}
  annotations:
    # Concurrent deliveries from this Trigger's queue (RabbitMQ broker dispatcher workers).
    rabbitmq.eventing.knative.dev/parallelism: "4"
spec:
  broker: ${broker}
  # The RabbitMQ broker filters on spec.filter.attributes (exact match) and ignores spec.filters.
  filter:
    attributes:
      type: ${scaffold.eventType}
  subscriber:
    ref:
      apiVersion: serving.knative.dev/v1
      kind: Service
      name: ${scaffold.name}
  delivery:
    retry: 5
    backoffPolicy: exponential
    backoffDelay: PT0.5S
    deadLetterSink:
      ref:
        apiVersion: serving.knative.dev/v1
        kind: Service
        name: notify-dead-letter
`,
  );
  const kustomization = join(dir, 'kustomization.yaml');
  const lines = (await readFile(kustomization, 'utf8')).split('\n');
  const lastTrigger = lines.findLastIndex((line) => /^\s*- 3\d\d-trigger-/.test(line));
  lines.splice(lastTrigger + 1, 0, `  - ${file}`);
  await writeFile(kustomization, lines.join('\n'));
  return [`eventing/${file}`, 'eventing/kustomization.yaml'];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    const root = fileURLToPath(new URL('..', import.meta.url));
    const scaffold = parseScaffoldArgs(process.argv.slice(2));
    const written = await scaffoldFunction(root, scaffold);
    process.stdout.write(`${written.map((file) => `  ${file}`).join('\n')}\n`);
    process.stdout.write(
      `\n${scaffold.name} serves, is documented and tested. Next: write its logic in functions/${scaffold.domain}/${scaffold.name}/handler.ts, ` +
        `its input in schema.ts, what it needs in its inventory entry; run \`make test\`.\n` +
        (scaffold.kind === 'cloudevent'
          ? `Its Trigger (filter type ${scaffold.eventType}) is in eventing/: the local broker delivers its events under make dev; a producer writes them to the outbox.\n`
          : ''),
    );
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
}
