import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INVENTORY } from '../../functions/inventory.js';
import { freePort } from '../../runner/ports.js';
import { ensureBundles } from '../../scripts/build/bundle-cache.js';
import { copyRuntimeModules } from '../../scripts/build/runtime-modules.js';
import { createTestSigningKeys } from '../support/signing.js';
import { ROOT, loadManifests, named, parseImage, podSpecOf, containersOf } from './manifest-support.js';

/** The image: what the Dockerfile builds and what the runtime stage runs. */

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

interface Stage {
  readonly image: string;
  readonly name: string | undefined;
  readonly instructions: Instruction[];
}

/** Dockerfile instructions (continuations joined, comments dropped), grouped by FROM. */
function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw)) continue; // comments, also between continuation lines
    const line = raw.replace(/\s+$/, '');
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = `${pending}${line}`.trim();
    pending = '';
    if (full !== '') logical.push(full);
  }
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    if (keyword.toUpperCase() === 'FROM') {
      const words = args.split(/\s+/).filter((word) => !word.startsWith('--'));
      const asIndex = words.findIndex((word) => word.toUpperCase() === 'AS');
      stages.push({ image: words[0]!, name: asIndex > -1 ? words[asIndex + 1] : undefined, instructions: [] });
    } else {
      if (stages.length === 0) throw new Error(`${keyword} before the first FROM`);
      stages.at(-1)!.instructions.push({ keyword: keyword.toUpperCase(), args });
    }
  }
  return stages;
}

/** The JSON (exec) form of CMD/ENTRYPOINT. */
function execForm(args: string): string[] {
  const parsed = JSON.parse(args) as unknown;
  if (!Array.isArray(parsed) || !parsed.every((part) => typeof part === 'string')) throw new Error(`not an exec form: ${args}`);
  return parsed;
}

/** COPY/ADD: flags, sources, destination. */
function copyParts(args: string): { flags: string[]; sources: string[]; destination: string } {
  const words = args.startsWith('[') ? execForm(args) : args.split(/\s+/);
  const flags = words.filter((word) => word.startsWith('--'));
  const paths = words.filter((word) => !word.startsWith('--'));
  return { flags, sources: paths.slice(0, -1), destination: paths.at(-1)! };
}

/**
 * .dockerignore as the docker CLI applies it (moby's pattern matcher): patterns are cleaned paths
 * with `*`, `?` and `**`; a pattern also excludes everything under a directory it matches; the
 * last matching pattern wins, `!` re-includes.
 */
function dockerignoreMatcher(text: string): (path: string) => boolean {
  const patterns = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const negated = line.startsWith('!');
      const cleaned = posix.normalize((negated ? line.slice(1) : line).trim()).replace(/^\/+/, '').replace(/\/+$/, '');
      let source = '';
      for (let index = 0; index < cleaned.length; index++) {
        const char = cleaned[index]!;
        if (char === '*' && cleaned[index + 1] === '*') {
          const slashAfter = cleaned[index + 2] === '/';
          source += slashAfter ? '(?:.*/)?' : '.*';
          index += slashAfter ? 2 : 1;
        } else if (char === '*') source += '[^/]*';
        else if (char === '?') source += '[^/]';
        else source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      }
      return { negated, regex: new RegExp(`^${source}$`) };
    });
  return (path: string) => {
    const parts = path.split('/');
    const candidates = parts.map((_, index) => parts.slice(0, index + 1).join('/'));
    let excluded = false;
    for (const pattern of patterns) if (candidates.some((candidate) => pattern.regex.test(candidate))) excluded = !pattern.negated;
    return excluded;
  };
}

const BUILD_TOOLS = /\b(npm|npx|yarn|pnpm|corepack|apt|apt-get|apk|dpkg|tsc|tsx|esbuild|make|gcc|g\+\+|pip|curl|wget)\b/;

let stages: Stage[];
let runtime: Stage;
let isIgnored: (path: string) => boolean;

beforeAll(async () => {
  stages = parseDockerfile(await readFile(join(ROOT, 'Dockerfile'), 'utf8'));
  runtime = stages.at(-1)!;
  isIgnored = dockerignoreMatcher(await readFile(join(ROOT, '.dockerignore'), 'utf8'));
});

const instructions = (stage: Stage, keyword: string) => stage.instructions.filter((instruction) => instruction.keyword === keyword);
const nodeMajor = (image: string): number | undefined => {
  const match = /(?:^|\/)node:(\d+)|nodejs(\d+)/.exec(image);
  return match ? Number(match[1] ?? match[2]) : undefined;
};

describe('Dockerfile', () => {
  it('has a build stage and a runtime stage, the runtime stage last', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(stages.map((stage) => stage.name)).toContain('build');
    expect(runtime.name).toBe('runtime');
  });

  it('pins every base image to a version: never latest, never untagged', () => {
    for (const stage of stages) {
      const { repository, tag, digest } = parseImage(stage.image);
      expect(tag !== undefined || digest !== undefined, `${stage.image} has a tag or digest`).toBe(true);
      expect(tag, stage.image).not.toBe('latest');
      // The version is in the tag (node:22.12.0-…), in the repository (distroless nodejs22) or a digest.
      expect(digest !== undefined || /\d/.test(tag ?? '') || /\d/.test(repository.split('/').at(-1)!), `${stage.image} names a version`).toBe(true);
    }
  });

  it('runs Node 22 distroless (or slim) at runtime, the same major the bundles are built with', () => {
    expect(runtime.image).toMatch(/^gcr\.io\/distroless\/nodejs22-[a-z0-9]+[:@]|^node:22[.\d]*-[a-z]+-slim(@|$)|^node:22[.\d]*-slim(@|$)/);
    const build = stages.find((stage) => stage.name === 'build')!;
    expect(nodeMajor(build.image)).toBe(nodeMajor(runtime.image));
  });

  it('runs as a non-root user in the runtime stage', () => {
    const users = instructions(runtime, 'USER');
    expect(users.length).toBeGreaterThan(0);
    const user = users.at(-1)!.args.split(':')[0]!;
    expect(['root', '0', '']).not.toContain(user);
    // The files it runs belong to that user too (or root): no root-only files.
    for (const copy of instructions(runtime, 'COPY')) {
      const chown = copyParts(copy.args).flags.find((flag) => flag.startsWith('--chown='));
      if (chown) expect(chown.slice('--chown='.length).split(':')[0]).toBe(user);
    }
  });

  it('invokes no package manager or build tool in the runtime stage', () => {
    expect(instructions(runtime, 'RUN'), 'distroless has no shell to RUN anything with').toEqual([]);
    for (const instruction of runtime.instructions) expect(instruction.args, `${instruction.keyword} ${instruction.args}`).not.toMatch(BUILD_TOOLS);
    expect(instructions(runtime, 'ADD')).toEqual([]);
  });

  it('copies dist/ and the runtime node_modules from the build stage, where CMD finds dist/main.js', () => {
    const copies = instructions(runtime, 'COPY').map((copy) => copyParts(copy.args));
    for (const copy of copies) expect(copy.flags).toContain('--from=build');
    const copied = (name: string) => copies.find((copy) => copy.sources.map((source) => source.replace(/\/+$/, '').split('/').at(-1)).includes(name));
    expect(copies).toHaveLength(2);
    const dist = copied('dist');
    expect(dist).toBeDefined();
    // The folder scripts/build/runtime-modules.ts fills: functions-framework and what it needs, nothing else.
    const modules = copied('node_modules');
    expect(modules?.sources).toEqual(['/runtime/node_modules/']);
    expect(instructions(stages[0]!, 'RUN').map((run) => run.args)).toContain('npx tsx scripts/build/runtime-modules.ts /runtime/node_modules');

    const cmd = execForm(instructions(runtime, 'CMD').at(-1)!.args);
    const script = cmd.find((part) => part.endsWith('.js'));
    expect(script).toBe('dist/main.js');
    expect(instructions(runtime, 'ENTRYPOINT'), "distroless's entrypoint is node itself").toEqual([]);
    const workdir = instructions(runtime, 'WORKDIR').at(-1)!.args;
    expect(posix.join(workdir, script!)).toBe(posix.join(dist!.destination, 'main.js'));
    expect(posix.join(workdir, 'node_modules')).toBe(modules!.destination.replace(/\/+$/, ''));
  });

  it('copies into the build stage only what .dockerignore lets into the context', () => {
    const build = stages.find((stage) => stage.name === 'build')!;
    const sources = instructions(build, 'COPY').flatMap((copy) => copyParts(copy.args).sources);
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      expect(existsSync(join(ROOT, source)), `${source} exists`).toBe(true);
      expect(isIgnored(source.replace(/\/+$/, '')), `${source} is in the build context`).toBe(false);
    }
  });
});

describe('.dockerignore', () => {
  it.each([
    'node_modules/yaml/package.json',
    'functions/node_modules/x/index.js',
    '.git/HEAD',
    '.data/keys/signing-key.pem',
    '.data/postgres/PG_VERSION',
    'dist/main.js',
    'test/manifests/schemas.test.ts',
    'test/support/signing.ts',
    'functions/users/users-get/users-get.test.ts',
    'scripts/some.test.ts',
    '.deploy/services/users-get.yaml',
    'coverage/index.html',
  ])('keeps %s out of the build context', (path) => {
    expect(isIgnored(path)).toBe(true);
  });

  it.each(['package.json', 'package-lock.json', 'tsconfig.json', 'functions/inventory.ts', 'functions/main.ts', 'scripts/build/build.ts', 'migrations/index.ts'])(
    'lets %s in',
    (path) => {
      expect(isIgnored(path)).toBe(false);
    },
  );
});

describe('what the image runs', () => {
  /** What `npm run build` writes into the build stage's dist/, from the shared bundle cache (read only). */
  let bundlesDir: string;
  let appDir: string;
  let runtimePackages: string[];
  let cmd: string[];
  let runtimeEnv: Record<string, string>;
  let publicKeyPem: string;
  const started: ReturnType<typeof spawn>[] = [];

  beforeAll(async () => {
    bundlesDir = (await ensureBundles()).dir;
    // The runtime stage's /app: dist/, and node_modules with functions-framework's packages alone.
    appDir = join(await mkdtemp(join(tmpdir(), 'accounts-image-app-')), 'app');
    await cp(bundlesDir, join(appDir, 'dist'), { recursive: true });
    runtimePackages = await copyRuntimeModules(join(appDir, 'node_modules'));
    cmd = execForm(instructions(runtime, 'CMD').at(-1)!.args);
    runtimeEnv = Object.fromEntries(
      instructions(runtime, 'ENV').map((env) => {
        const [key, value] = env.args.includes('=') ? env.args.split('=', 2) : env.args.split(/\s+/, 2);
        return [key!, value!];
      }),
    );
    publicKeyPem = (await createTestSigningKeys()).publicKeyPem;
  }, 120_000);

  afterAll(async () => {
    for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (appDir) await rm(dirname(appDir), { recursive: true, force: true });
  });

  /** `node CMD...` in /app, as the distroless entrypoint runs it, with only the given environment. */
  function startImage(env: Record<string, string>) {
    const child = spawn(process.execPath, cmd, { cwd: appDir, env: { ...runtimeEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    started.push(child);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return { child, exit, output: () => output };
  }

  it('has a bundle for every function, the password worker and the migration, and of node_modules only functions-framework\'s packages', async () => {
    for (let dir = dirname(appDir); ; dir = dirname(dir)) {
      expect(existsSync(join(dir, 'node_modules')), `${dir}/node_modules`).toBe(false);
      if (dirname(dir) === dir) break;
    }
    const files = await readdir(join(appDir, 'dist'));
    for (const name of [...INVENTORY.map((spec) => spec.name), 'main', 'migrate', 'password-worker']) expect(files).toContain(`${name}.js`);
    // The migration Job starts the same image with its own script.
    const [job] = named(await loadManifests('knative/migrate'), 'batch/v1', 'Job');
    for (const container of containersOf(podSpecOf(job!))) expect(files).toContain(posix.basename(container.args[0]));
    expect(runtimePackages).toContain('node_modules/@google-cloud/functions-framework');
    // Whatever the bundles carry is not there a second time.
    for (const bundled of ['pg', 'kysely', 'zod', 'jose', 'bcryptjs', 'nodemailer', 'amqplib']) {
      expect(existsSync(join(appDir, 'node_modules', bundled)), bundled).toBe(false);
    }
  });

  it('serves a function with the stock functions-framework CLI too (it finds the registration)', async () => {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      ['node_modules/@google-cloud/functions-framework/build/src/main.js', '--target=auth-jwks', '--source=dist/auth-jwks.js'],
      { cwd: appDir, env: { ...runtimeEnv, PORT: String(port), JWT_PUBLIC_KEY: publicKeyPem }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    started.push(child);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await expect.poll(() => fetch(`http://127.0.0.1:${port}/auth/jwks`).then((response) => response.status, () => 0), { timeout: 15_000 }).toBe(200);
    const body = (await (await fetch(`http://127.0.0.1:${port}/auth/jwks`)).json()) as { keys: unknown[] };
    expect(body.keys, output).toHaveLength(1);
    child.kill('SIGKILL');
  });

  it('bundles only sources the Docker build context contains', async () => {
    const outside: string[] = [];
    for (const map of (await readdir(bundlesDir)).filter((file) => file.endsWith('.js.map'))) {
      const { sources } = JSON.parse(await readFile(join(bundlesDir, map), 'utf8')) as { sources: string[] };
      for (const source of sources) {
        const path = relative(ROOT, resolve(bundlesDir, source));
        if (path.startsWith('node_modules/') || path.endsWith('.entry.ts')) continue; // npm ci installs those; the entries are generated
        if (path.startsWith('..') || isIgnored(path)) outside.push(`${map}: ${path}`);
      }
    }
    expect(outside).toEqual([]);
  });

  it('serves GET /auth/jwks with FUNCTION_TARGET=auth-jwks', async () => {
    const port = await freePort();
    const image = startImage({ FUNCTION_TARGET: 'auth-jwks', PORT: String(port), JWT_PUBLIC_KEY: publicKeyPem });
    const deadline = Date.now() + 15_000;
    let response: Response | undefined;
    while (!response && Date.now() < deadline && image.child.exitCode === null) {
      response = await fetch(`http://127.0.0.1:${port}/auth/jwks`).catch(() => undefined);
      if (!response) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(response, `no answer; output:\n${image.output()}`).toBeDefined();
    expect(response!.status).toBe(200);
    const body = (await response!.json()) as { keys: { kty: string; kid: string }[] };
    expect(body.keys).toHaveLength(1);
    expect(body.keys[0]).toMatchObject({ kty: 'EC', kid: 'accounts-1' });
    image.child.kill('SIGTERM');
    expect(await image.exit).toBe(0);
  });

  it.each([
    ['unset', {}],
    ['unknown', { FUNCTION_TARGET: 'users-gett' }],
  ])('exits 1 naming the valid targets when FUNCTION_TARGET is %s', async (_case, env: Record<string, string>) => {
    const image = startImage({ PORT: String(await freePort()), ...env });
    const code = await Promise.race([image.exit, new Promise((resolve) => setTimeout(() => resolve('still running'), 10_000))]);
    expect(code).toBe(1);
    expect(image.output()).toContain('FUNCTION_TARGET must name one of:');
    for (const spec of INVENTORY) expect(image.output()).toContain(spec.name);
  });
});
