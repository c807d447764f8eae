import { spawn } from 'node:child_process';
import { access, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import ts from 'typescript';
import type { EventEntry } from '../../functions/contracts/events/catalogue.js';

/**
 * `npm run new-function -- NAME --domain D --http METHOD PATH` (or `--cloudevent TYPE`): writes
 * `functions/D/NAME/` with a working, tested skeleton (declaration, handler, schema and tests) and,
 * for HTTP, its words in the API document (scripts/codegen/openapi/operations/D/NAME.ts); adds the
 * function's inventory entry and, for a CloudEvent function, makes it a consumer of TYPE in the
 * event catalogue (a new TYPE gets its entry there and its data schema beside it); then regenerates
 * what derives from both (its Knative Service and rollout state, its Trigger in eventing/,
 * openapi.yaml, the README's function table). The function then serves under `make dev`, is
 * documented and deployable, and `make test` passes, before its logic is written. Knative's
 * `func create` is the model.
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
  } else if (values.cloudevent !== undefined && !/^[A-Za-z][\w.-]*$/.test(values.cloudevent)) {
    problems.push('TYPE must be a CloudEvent type: a letter, then letters, digits, dots, dashes and underscores');
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
  return {
    'handler.ts': `import type { EventDataOf } from '../../contracts/events/catalogue.js';
import type { EventOutcome } from '../../shared/runtime/definition.js';
import type { Logger } from '../../shared/logging.js';

/** What ${name} needs; add what its logic uses (database, mail, ...) and name it in its inventory entry. */
export interface ${type}Deps {
  readonly logger: Logger;
}

export interface ${type}Input {
  readonly eventId: string;
  readonly data: EventDataOf<'${eventType}'>;
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
    'index.ts': `import { catalogueEntry } from '../../contracts/events/catalogue.js';
import { specOf } from '../../inventory.js';
import { readEventData } from '../../shared/events/event-data.js';
import { defineCloudEventFunction } from '../../shared/runtime/definition.js';
import { registerFunction } from '../../shared/runtime/register.js';
import { handle } from './handler.js';

/** The event it takes, as the event catalogue defines it (type, dataschema, data schema); the catalogue names ${name} its consumer. */
export const EVENT = catalogueEntry('${eventType}');

export const definition = defineCloudEventFunction(specOf('${name}'), {
  input: (event) => readEventData(event, EVENT),
  handle,
});

// Importing this module registers the function with functions-framework under its name.
registerFunction(definition);
`,
    [`${name}.test.ts`]: `import { CloudEvent, HTTP } from 'cloudevents';
import { describe, expect, it } from 'vitest';
import type { EventDataOf } from '../../contracts/events/catalogue.js';
import { createLogger } from '../../shared/logging.js';
import { useFunctionSuite } from '../../../test/support/function-suite.js';
import { testPostgresServers } from '../../../test/support/postgres.js';
import { handle } from './handler.js';
import { definition, EVENT } from './index.js';

/** The example of its data schema (the one the API document shows). */
const EXAMPLE = ((EVENT.data.meta() as { examples?: unknown[] } | undefined)?.examples?.[0] ?? {}) as EventDataOf<'${eventType}'>;

describe('${name}', () => {
  const suite = useFunctionSuite(definition, testPostgresServers()[0]!.adminUrl, () => ({}));
  const deliver = async (type: string, data: unknown): Promise<number> => {
    const event = new CloudEvent({ id: crypto.randomUUID(), source: '/test', type, dataschema: EVENT.dataschema, datacontenttype: 'application/json', data });
    const message = HTTP.binary(event);
    const response = await fetch(\`\${suite.fn.url}/\`, { method: 'POST', headers: message.headers as Record<string, string>, body: message.body as string });
    return response.status;
  };

  it('acknowledges a ${eventType} event (204) and handles it', async () => {
    expect(await deliver(EVENT.type, EXAMPLE)).toBe(204);
    expect(suite.fn.logs).toContainEqual(expect.objectContaining({ message: 'event', eventType: EVENT.type, outcome: 'handled' }));
  });

  it('acknowledges without effect an event of another type or with data its schema refuses, saying why', async () => {
    expect(await deliver('something_else', EXAMPLE)).toBe(204);
    expect(await deliver(EVENT.type, { unexpected: true })).toBe(204);
    expect(suite.fn.logs.filter((line) => line['message'] === 'malformed event ignored').map((line) => line['reason'])).toEqual([
      'unexpected type',
      'the data does not match the schema',
    ]);
  });

  it('keeps its logic free of CloudEvents: handle takes plain input', async () => {
    const logger = createLogger({ service: '${name}', revision: 'test', write: () => undefined });
    expect(await handle({ logger }, { eventId: 'e-1', data: EXAMPLE })).toBe('handled');
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


/** The names a new event type's data module gives its type, dataschema and schema, and the module's file. */
export function eventTypeNames(eventType: string): { file: string; type: string; dataschema: string; schema: string; dataName: string } {
  const words = eventType.split(/[^A-Za-z0-9]+/).filter((word) => word !== '');
  const upper = words.map((word) => word.toUpperCase()).join('_');
  const pascalWords = words.map((word) => word[0]!.toUpperCase() + word.slice(1)).join('');
  return {
    file: `${words.map((word) => word.toLowerCase()).join('-')}.ts`,
    type: `${upper}_TYPE`,
    dataschema: `${upper}_DATASCHEMA`,
    schema: `${pascalWords[0]!.toLowerCase()}${pascalWords.slice(1)}Data`,
    dataName: `${pascalWords}Data`,
  };
}

/** The data module of a new event type, beside the catalogue: its type, its dataschema and its data schema (with an example). */
export function eventDataModule(eventType: string): string {
  const names = eventTypeNames(eventType);
  return `import { z } from 'zod';

/**
 * \`${eventType}\`: the contract between its producers and its consumers (the event catalogue names
 * both). A new data shape gets a new \`dataschema\` version. (Scaffolded by \`npm run new-function\`:
 * say what it reports.)
 */
export const ${names.type} = '${eventType}';
export const ${names.dataschema} = 'https://knative-accounts.dev/schemas/events/${eventType}/v1.json';

export const ${names.schema} = z
  .strictObject({
    message: z.string().min(1).max(200).meta({ description: 'What it says.' }),
  })
  .meta({ description: 'The data of a \`${eventType}\` event.', examples: [{ message: 'hello' }] });
`;
}

/** The array literal of EVENT_CATALOGUE in catalogue.ts. */
function catalogueArray(file: ts.SourceFile): ts.ArrayLiteralExpression {
  let found: ts.ArrayLiteralExpression | undefined;
  const visit = (node: ts.Node): void => {
    if (ts.isVariableDeclaration(node) && node.name.getText(file) === 'EVENT_CATALOGUE') {
      let value = node.initializer;
      while (value && (ts.isSatisfiesExpression(value) || ts.isAsExpression(value) || ts.isParenthesizedExpression(value))) value = value.expression;
      if (value && ts.isArrayLiteralExpression(value)) found = value;
    }
    node.forEachChild(visit);
  };
  visit(file);
  if (!found) throw new Error('functions/contracts/events/catalogue.ts has no EVENT_CATALOGUE array');
  return found;
}

const insert = (text: string, at: number, added: string) => `${text.slice(0, at)}${added}${text.slice(at)}`;

/**
 * catalogue.ts (`source`, whose entries `catalogue` holds) with the scaffolded function as a
 * consumer of its event type: in that type's entry when the catalogue has one, else in a new entry
 * (whose data module, `eventDataModule`, is imported beside it). Edited where the TypeScript parser
 * finds the array and its entries, so the rest of the file stays as written. A signed or sealed type
 * is refused: its consumer must check the signature or open the seal, which a skeleton cannot do.
 */
export function catalogueWithConsumer(source: string, catalogue: readonly EventEntry[], scaffold: Extract<Scaffold, { kind: 'cloudevent' }>): string {
  const index = catalogue.findIndex((entry) => entry.type === scaffold.eventType);
  const known = catalogue[index];
  if (known && known.authenticity.kind !== 'none') {
    throw new Error(`${scaffold.eventType} is ${known.authenticity.kind}: its consumers check that before anything else (see its consumers in functions/contracts/events/catalogue.ts); write this one by hand`);
  }
  const file = ts.createSourceFile('catalogue.ts', source, ts.ScriptTarget.Latest, true);
  const array = catalogueArray(file);
  if (array.elements.length !== catalogue.length) throw new Error('EVENT_CATALOGUE must list its entries one by one, as object literals');
  const consumer = `{ function: '${scaffold.name}', trigger: '${scaffold.name}', does: 'takes it (a scaffold: say what it does)' }`;
  if (known) {
    const element = array.elements[index] as ts.Expression;
    const consumers = ts.isObjectLiteralExpression(element)
      ? element.properties.find((property): property is ts.PropertyAssignment => ts.isPropertyAssignment(property) && property.name.getText(file) === 'consumers')
      : undefined;
    if (!consumers || !ts.isArrayLiteralExpression(consumers.initializer)) {
      throw new Error(`the catalogue entry of ${scaffold.eventType} is not an object with a consumers array: add ${scaffold.name} to its consumers by hand`);
    }
    const list = consumers.initializer;
    const last = list.elements[list.elements.length - 1];
    // After the last element itself: a list's end takes in a trailing comma.
    return last ? insert(source, last.end, `, ${consumer}`) : insert(source, list.getStart(file) + 1, consumer);
  }
  const names = eventTypeNames(scaffold.eventType);
  const entry = [
    '  {',
    `    type: ${names.type},`,
    `    dataschema: ${names.dataschema},`,
    `    data: ${names.schema},`,
    `    dataName: '${names.dataName}',`,
    "    // Anyone in the cluster may post one: make it signed or sealed before it carries anything that matters.",
    "    authenticity: { kind: 'none' },",
    `    when: '${scaffold.eventType} happens (a scaffold: say when)',`,
    "    time: 'When it happened.',",
    '    // The functions that make it, through their outbox (each needs `sink`).',
    '    producers: [],',
    `    consumers: [${consumer}],`,
    '    delivery: STANDARD_DELIVERY,',
    '  }',
  ].join('\n');
  const last = array.elements[array.elements.length - 1];
  const withEntry = last ? insert(source, last.end, `,\n${entry}`) : insert(source, array.getStart(file) + 1, `\n${entry},\n`);
  const imports = file.statements.filter(ts.isImportDeclaration);
  const afterImports = imports.length > 0 ? (imports[imports.length - 1] as ts.ImportDeclaration).end : 0;
  const line = `\nimport { ${names.dataschema}, ${names.type}, ${names.schema} } from './${names.file.replace(/\.ts$/, '.js')}';`;
  return insert(withEntry, afterImports, line);
}

/** A new domain gets its folder's API description (its tag). */
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

/** `npm run <script> -- <args>` in root: the commands the README names, so the scaffold regenerates as a person would. */
function npmRun(root: string, script: string, args: readonly string[] = [], env: NodeJS.ProcessEnv = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const argv = ['run', '--silent', script, ...(args.length > 0 ? ['--', ...args] : [])];
    const child = spawn('npm', argv, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`npm run ${script} failed:\n${output}`))));
  });
}

/** The files of a folder and their contents, to say which ones a step changed. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const file of await readdir(dir)) files.set(file, await readFile(join(dir, file), 'utf8'));
  return files;
}

/**
 * For a CloudEvent function: the event catalogue with the function as a consumer of its type, and
 * the new type's data module when the catalogue has no such type. Refuses before anything is written.
 */
async function catalogueChange(root: string, scaffold: Extract<Scaffold, { kind: 'cloudevent' }>): Promise<{ file: string; text: string }[]> {
  const catalogueFile = join(root, 'functions', 'contracts', 'events', 'catalogue.ts');
  const { EVENT_CATALOGUE } = (await import(pathToFileURL(catalogueFile).href)) as { EVENT_CATALOGUE: readonly EventEntry[] };
  const changes = [{ file: 'functions/contracts/events/catalogue.ts', text: catalogueWithConsumer(await readFile(catalogueFile, 'utf8'), EVENT_CATALOGUE, scaffold) }];
  if (EVENT_CATALOGUE.some((entry) => entry.type === scaffold.eventType)) return changes;
  const dataModule = `functions/contracts/events/${eventTypeNames(scaffold.eventType).file}`;
  if (await exists(join(root, dataModule))) throw new Error(`${dataModule} already exists`);
  return [...changes, { file: dataModule, text: eventDataModule(scaffold.eventType) }];
}

/**
 * Writes the folder and the inventory entry under `root` (the project), for a CloudEvent function
 * its place in the event catalogue, then regenerates the files that derive from them. Refuses a
 * name or a route the inventory already has.
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
  const catalogue = scaffold.kind === 'cloudevent' ? await catalogueChange(root, scaffold) : [];

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
  for (const { file, text } of catalogue) {
    await writeFile(join(root, file), text);
    written.push(file);
  }
  // What derives from the inventory and the catalogue: the Knative Service, eventing/, the API document, the README's table.
  const eventingDir = join(root, 'eventing');
  const eventingBefore = await snapshot(eventingDir);
  for (const script of ['manifests', 'openapi', 'readme']) await npmRun(root, script);
  for (const [file, text] of await snapshot(eventingDir)) if (eventingBefore.get(file) !== text) written.push(`eventing/${file}`);
  // The rollout state records the new function's revision (no cluster involved), as after any template change.
  // A deploy wants TRUSTED_PROXY_CIDRS: its ConfigMap goes with the scratch folder, any network will do.
  const deployDir = await mkdtemp(join(tmpdir(), 'accounts-new-function-'));
  try {
    const env = { DEPLOY_DIR: deployDir, ROLLOUT_STATE: join(root, 'knative', 'rollout.yaml'), TRUSTED_PROXY_CIDRS: '10.0.0.0/8', RECORD_ONLY: '1' };
    // deploy plans; record writes the plan into the rollout state (RECORD_ONLY: no cluster).
    for (const step of ['deploy', 'record']) await npmRun(root, 'rollout', [step], env);
  } finally {
    await rm(deployDir, { recursive: true, force: true });
  }
  written.push(`knative/services/${scaffold.name}.yaml`, 'knative/services/kustomization.yaml', 'knative/rollout.yaml', 'openapi.yaml', 'README.md');
  return written;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const scaffold = parseScaffoldArgs(process.argv.slice(2));
    const written = await scaffoldFunction(root, scaffold);
    process.stdout.write(`${written.map((file) => `  ${file}`).join('\n')}\n`);
    process.stdout.write(
      `\n${scaffold.name} serves, is documented and tested. Next: write its logic in functions/${scaffold.domain}/${scaffold.name}/handler.ts, ` +
        `${scaffold.kind === 'http' ? 'its input in schema.ts' : 'its event in the event catalogue (functions/contracts/events/)'}, what it needs in its inventory entry; run \`make test\`.\n` +
        (scaffold.kind === 'cloudevent'
          ? `It consumes ${scaffold.eventType} in the event catalogue, and its Trigger (filter type ${scaffold.eventType}) is in eventing/: the local broker ` +
            'delivers its events under make dev; name the producers in the catalogue (they write the events to their outbox).\n'
          : ''),
    );
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
}
