import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { SourceMap } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleInto } from '../scripts/build/build.js';
import { DEFAULT_CACHE_ROOT } from '../scripts/build/bundle-cache.js';
import { startServer } from './processes.js';
import { setUpBench } from './setup.js';
import { runWrk } from './wrk.js';

/**
 * `npm run profile -- users-get` (or users-list): a CPU profile (`node --cpu-prof`) of the function
 * under wrk load, summarised as where the busy time goes: by package or part of this project, and
 * the functions that take the most time themselves. The .cpuprofile is kept for Chrome DevTools.
 * VERIFIED_TOKEN_CACHE_SIZE, when set, is handed to the function (0: every request checks its
 * token's signature).
 */

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number; readonly columnNumber: number };
  readonly children?: readonly number[];
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

const name = process.argv[2] ?? 'users-get';
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 10);
const out = (line = '') => process.stdout.write(`${line}\n`);

/** The named settings this process has, for the function. */
function passedOn(names: readonly string[]): Record<string, string> {
  return Object.fromEntries(names.flatMap((key) => (process.env[key] === undefined ? [] : [[key, process.env[key] as string]])));
}

const maps = new Map<string, SourceMap | undefined>();

/** The original source of a position in a bundle, through the bundle's source map. */
async function originalSourceOf(url: string, line: number, column: number): Promise<string> {
  if (!url.startsWith('file://')) return url;
  if (!maps.has(url)) {
    const payload = await readFile(`${fileURLToPath(url)}.map`, 'utf8').then((text) => JSON.parse(text) as object, () => undefined);
    maps.set(url, payload ? new SourceMap(payload as ConstructorParameters<typeof SourceMap>[0]) : undefined);
  }
  const entry = maps.get(url)?.findEntry(line, column) as { originalSource?: string } | undefined;
  return entry?.originalSource ?? url;
}

/** Where a frame's code comes from: a package, a folder of this project, node itself, or V8. */
function areaOf(source: string, functionName: string): string {
  if (source === '') return functionName === '(garbage collector)' ? 'garbage collection' : functionName === '(idle)' || functionName === '(program)' ? functionName : 'native';
  if (source.startsWith('node:')) return `node:${source.slice(5).split('/')[0]}`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(source);
  if (pkg) return pkg[1] as string;
  const ours = /(functions\/shared\/[^/]+|functions\/[^/]+\/[^/]+|migrations|scripts)\//.exec(source);
  return ours ? (ours[1] as string) : (source.split('/').at(-1) ?? source);
}

// Inside the project, so the bundles find functions-framework in node_modules as the cached ones do.
const bundles = await mkdtemp(join(DEFAULT_CACHE_ROOT, '..', 'profile-'));
await bundleInto(bundles, { minify: false });
const setup = await setUpBench(process.env['BENCH_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres', 4);
const profileDir = await mkdtemp(join(tmpdir(), 'accounts-profile-'));
try {
  const server = await startServer(
    name,
    ['--enable-source-maps', '--cpu-prof', `--cpu-prof-dir=${profileDir}`, join(bundles, 'main.js')],
    { FUNCTION_TARGET: name, DATABASE_URL: setup.databaseUrl, JWT_PUBLIC_KEY: setup.publicKeyPem, DB_POOL_MAX: '10', ...passedOn(['VERIFIED_TOKEN_CACHE_SIZE']) },
  );
  const path = name === 'users-list' ? '/users' : `/users/${setup.reader.id}`;
  const token = name === 'users-list' ? setup.adminToken : setup.readerToken;
  const result = await runWrk({ url: `${server.url}${path}`, connections: 50, seconds: SECONDS, headers: { authorization: `Bearer ${token}` } });
  out(`${name} GET ${path}: ${result.perSecond.toFixed(0)} req/s, p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms`);
  await server.stop();

  const [file] = (await readdir(profileDir)).filter((entry) => entry.endsWith('.cpuprofile'));
  if (!file) throw new Error('no profile was written');
  const profile = JSON.parse(await readFile(join(profileDir, file), 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfTime = new Map<number, number>();
  profile.samples.forEach((id, index) => selfTime.set(id, (selfTime.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0)));
  const areas = new Map<string, number>();
  const functions = new Map<string, number>();
  let busy = 0;
  for (const [id, micros] of selfTime) {
    const frame = (byId.get(id) as ProfileNode).callFrame;
    const source = await originalSourceOf(frame.url, frame.lineNumber, frame.columnNumber);
    const area = areaOf(source, frame.functionName);
    if (area === '(idle)') continue;
    busy += micros;
    areas.set(area, (areas.get(area) ?? 0) + micros);
    const key = `${frame.functionName || '(anonymous)'} ${source.startsWith('node:') || source === '' ? area : source.replace(/^.*node_modules\//, '').replace(/^(\.\.\/)+/, '')}`;
    functions.set(key, (functions.get(key) ?? 0) + micros);
  }
  const percent = (micros: number) => `${((100 * micros) / busy).toFixed(1).padStart(5)}%`;
  out(`\nbusy time by area (${(busy / 1e6).toFixed(1)} s busy):`);
  for (const [area, micros] of [...areas].sort((a, b) => b[1] - a[1]).slice(0, 20)) out(`${percent(micros)}  ${area}`);
  out('\nfunctions by self time:');
  for (const [key, micros] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env['PROFILE_TOP'] ?? 25))) out(`${percent(micros)}  ${key}`);
  out(`\nprofile: ${join(profileDir, file)} (open it in Chrome DevTools > Performance)`);
} finally {
  await setup.drop();
  await rm(bundles, { recursive: true, force: true });
  if (process.env['KEEP_PROFILE'] !== '1') await rm(profileDir, { recursive: true, force: true });
}
