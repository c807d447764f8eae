import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_CATALOGUE, type EventEntry } from '../../functions/contracts/events/catalogue.js';
import { catalogueWithConsumer, eventDataModule, eventTypeNames, parseScaffoldArgs } from './new-function.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SHARED = join(ROOT, '..', 'shared');

describe('npm run new-function: the command line', () => {
  it('reads an HTTP and a CloudEvent function', () => {
    expect(parseScaffoldArgs(['users-export', '--domain', 'users', '--http', 'get', '/users/{id}/export'])).toEqual({
      kind: 'http',
      name: 'users-export',
      domain: 'users',
      method: 'GET',
      path: '/users/{id}/export',
    });
    expect(parseScaffoldArgs(['notify-welcome', '--domain', 'notify', '--cloudevent', 'user_registered_event'])).toEqual({
      kind: 'cloudevent',
      name: 'notify-welcome',
      domain: 'notify',
      eventType: 'user_registered_event',
    });
  });

  it.each([
    [['Users_Export', '--domain', 'users', '--http', 'GET', '/x'], 'NAME must be a Knative service name'],
    [['users-export', '--http', 'GET', '/x'], '--domain'],
    [['users-export', '--domain', 'users'], 'one of --http'],
    [['users-export', '--domain', 'users', '--http', 'PUT', '/x'], 'METHOD must be one of'],
    [['users-export', '--domain', 'users', '--http', 'GET', 'users'], 'PATH must start with /'],
    [['users-export', '--domain', 'users', '--cloudevent', 'a b'], 'TYPE must be'],
  ])('refuses %j, saying what is wrong and how to call it', (argv, message) => {
    expect(() => parseScaffoldArgs(argv)).toThrow(message);
    expect(() => parseScaffoldArgs(argv)).toThrow('usage: npm run new-function');
  });
});

describe('npm run new-function: the event catalogue', () => {
  const source = () => readFile(join(ROOT, 'functions/contracts/events/catalogue.ts'), 'utf8');
  const consumer = (name: string, eventType: string) => ({ kind: 'cloudevent', name, domain: 'notify', eventType }) as const;
  /** The catalogue with the entry of `type` taking events anyone may post: the only kind a scaffolded consumer can take as it is. */
  const open = (type: string) => EVENT_CATALOGUE.map((entry): EventEntry => (entry.type === type ? { ...entry, authenticity: { kind: 'none' } } : entry));

  it('adds a consumer to the entry of a type it has, where the parser finds its consumers, and nothing else', async () => {
    const before = await source();
    const after = catalogueWithConsumer(before, open('user_login_event'), consumer('notify-second-look', 'user_login_event'));
    const added = "{ function: 'notify-second-look', trigger: 'notify-second-look', does: 'takes it (a scaffold: say what it does)' }";
    expect(after.replace(`, ${added}`, '')).toBe(before);
    const at = after.indexOf(added);
    expect(after.slice(after.lastIndexOf('    type: ', at), at)).toMatch(/^ {4}type: USER_LOGIN_EVENT_TYPE,/);
  });

  it('says what to do when the entry of the type is not written out as an object (a helper builds it)', async () => {
    const text = await source();
    expect(() => catalogueWithConsumer(text, open('email_changed'), consumer('notify-another', 'email_changed'))).toThrow(
      /the catalogue entry of email_changed is not an object with a consumers array: add notify-another to its consumers by hand/,
    );
    expect(() => catalogueWithConsumer('', open('user_login_event'), consumer('notify-another', 'user_login_event'))).toThrow(/has no EVENT_CATALOGUE array/);
  });

  it('adds a new type as an entry of its own, importing its data module', async () => {
    const after = catalogueWithConsumer(await source(), EVENT_CATALOGUE, consumer('notify-hello', 'hello.world-event'));
    expect(after).toContain("import { HELLO_WORLD_EVENT_DATASCHEMA, HELLO_WORLD_EVENT_TYPE, helloWorldEventData } from './hello-world-event.js';");
    expect(after).toMatch(/ {2}\{\n {4}type: HELLO_WORLD_EVENT_TYPE,[\s\S]*consumers: \[\{ function: 'notify-hello', trigger: 'notify-hello',[\s\S]*\n {2}\},\n\] as const satisfies/);
    expect(eventTypeNames('hello.world-event')).toEqual({
      file: 'hello-world-event.ts',
      type: 'HELLO_WORLD_EVENT_TYPE',
      dataschema: 'HELLO_WORLD_EVENT_DATASCHEMA',
      schema: 'helloWorldEventData',
      dataName: 'HelloWorldEventData',
    });
    expect(eventDataModule('hello.world-event')).toContain("export const HELLO_WORLD_EVENT_TYPE = 'hello.world-event';");
  });

  it('refuses a consumer of a signed or sealed type: a skeleton cannot check its signature or open its seal', async () => {
    expect(() => catalogueWithConsumer('', EVENT_CATALOGUE, consumer('notify-another', 'user_login_event'))).toThrow(/user_login_event is signed/);
    expect(() => catalogueWithConsumer('', EVENT_CATALOGUE, consumer('notify-another', 'email_changed'))).toThrow(/email_changed is sealed/);
  });
});

/** Every file of the project as it is now (tracked and new, not ignored), by path and content hash. */
async function projectFiles(root: string): Promise<Map<string, string>> {
  const { stdout } = await promisify(execFile)('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: root, maxBuffer: 64 * 1024 * 1024 });
  const files = new Map<string, string>();
  for (const file of stdout.split('\0').filter((entry) => entry !== '')) {
    const content = await readFile(join(root, file)).catch(() => undefined);
    if (content) files.set(file, createHash('sha256').update(content).digest('hex'));
  }
  return files;
}

async function hashesUnder(root: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    if (!entry.isFile() || relative(root, path).split('/')[0] === 'node_modules') continue;
    files.set(relative(root, path), createHash('sha256').update(await readFile(path)).digest('hex'));
  }
  return files;
}

function run(cwd: string, args: string[], env: Record<string, string> = {}, command = process.execPath): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => resolve({ code, output }));
  });
}

/** `npm run new-function -- <args>` in `cwd`, as the README shows it: without the package.json script, it fails. */
const newFunction = (cwd: string, args: string[]) => run(cwd, ['run', 'new-function', '--', ...args], {}, 'npm');

describe('npm run new-function: in a copy of the project', () => {
  let copy: string;
  let before: Map<string, string>;

  beforeAll(async () => {
    copy = join(await mkdtemp(join(tmpdir(), 'accounts-scaffold-')), 'main');
    for (const file of (await projectFiles(ROOT)).keys()) {
      await mkdir(dirname(join(copy, file)), { recursive: true });
      await copyFile(join(ROOT, file), join(copy, file));
    }
    await symlink(join(ROOT, 'node_modules'), join(copy, 'node_modules'), 'dir');
    before = await hashesUnder(copy);
  }, 120_000);

  afterAll(async () => {
    if (copy) await rm(dirname(copy), { recursive: true, force: true });
  });

  it('writes only the new folders and the inventory entry, plus what derives from the inventory', async () => {
    const http = await newFunction(copy, ['reports-echo', '--domain', 'reports', '--http', 'POST', '/reports/{id}/echo']);
    expect(http.code, http.output).toBe(0);
    const event = await newFunction(copy, ['notify-hello', '--domain', 'notify', '--cloudevent', 'hello_event']);
    expect(event.code, event.output).toBe(0);
    expect(event.output).toContain('its Trigger (filter type hello_event) is in eventing/');

    const after = await hashesUnder(copy);
    const changed = [...after.keys()].filter((file) => before.get(file) !== after.get(file)).sort();
    expect(changed).toEqual(
      [
        'README.md',
        'eventing/340-trigger-notify-hello.yaml',
        'eventing/kustomization.yaml',
        'functions/contracts/events/catalogue.ts',
        'functions/contracts/events/hello-event.ts',
        'functions/inventory.ts',
        'functions/notify/notify-hello/handler.ts',
        'functions/notify/notify-hello/index.ts',
        'functions/notify/notify-hello/notify-hello.test.ts',
        'functions/reports/reports-echo/handler.ts',
        'functions/reports/reports-echo/index.ts',
        'functions/reports/reports-echo/reports-echo.test.ts',
        'functions/reports/reports-echo/schema.ts',
        'knative/services/kustomization.yaml',
        'knative/services/notify-hello.yaml',
        'knative/services/reports-echo.yaml',
        'knative/rollout.yaml',
        'openapi.yaml',
        'scripts/codegen/openapi/operations/reports/domain.ts',
        'scripts/codegen/openapi/operations/reports/reports-echo.ts',
      ].sort(),
    );
    expect([...before.keys()].filter((file) => !after.has(file))).toEqual([]);
    const inventory = await readFile(join(copy, 'functions/inventory.ts'), 'utf8');
    expect(inventory).toContain("name: 'reports-echo'");
    expect(inventory).toContain("path: '/reports/{id}/echo'");
    const catalogue = await readFile(join(copy, 'functions/contracts/events/catalogue.ts'), 'utf8');
    expect(catalogue).toContain("consumers: [{ function: 'notify-hello', trigger: 'notify-hello',");
    expect(catalogue).toContain("import { HELLO_EVENT_DATASCHEMA, HELLO_EVENT_TYPE, helloEventData } from './hello-event.js';");
    const rollout = await readFile(join(copy, 'knative/rollout.yaml'), 'utf8');
    const service = await readFile(join(copy, 'knative/services/reports-echo.yaml'), 'utf8');
    const revision = /name: (reports-echo-v[\w-]+)/.exec(service)?.[1];
    expect(revision, 'the Service names its revision').toBeDefined();
    expect(rollout, 'the rollout state records the revision the Service serves').toContain(`revision: ${revision}`);
    const again = await newFunction(copy, ['reports-echo', '--domain', 'reports', '--http', 'GET', '/x']);
    expect(again.code).toBe(2);
    expect(again.output).toContain('already has a function called reports-echo');
  }, 240_000);

  it('leaves a project whose types check and whose tests pass for the new functions untouched', async () => {
    const types = await run(copy, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.']);
    expect(types.code, types.output).toBe(0);
    const tests = await run(
      copy,
      [
        join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'),
        'run',
        '--reporter=verbose',
        'functions/reports',
        'functions/notify/notify-hello',
        'functions/contracts/events/catalogue.test.ts',
        'scripts/codegen/openapi',
        'functions/inventory.test.ts',
        'functions/handler-shape.test.ts',
        'test/structure',
        'test/docs',
        'test/manifests/services.test.ts',
        'test/manifests/references.test.ts',
        'test/fuzz/http-functions.test.ts',
      ],
      { SHARED_SCHEMAS_DIR: SHARED, FUZZ_RUNS: '900', CI: 'true' },
    );
    expect(tests.code, tests.output.slice(-4_000)).toBe(0);
    expect(tests.output).toMatch(/reports-echo answers each documented request example as documented/);
    expect(tests.output).toMatch(/fuzz reports-echo/);
  }, 240_000);
});
