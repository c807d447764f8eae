import { randomBytes } from 'node:crypto';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { INVENTORY } from '../functions/inventory.js';
import { createPasswordHasher } from '../functions/shared/passwords/password-hasher.js';
import { ensureBundles } from '../scripts/build/bundle-cache.js';
import { FRAMEWORK_CLI, median, memoryOf, startServer, type Server } from './processes.js';
import { setUpBench, type BenchSetup } from './setup.js';
import { measureTelemetryColdStart, startStubCollector } from './telemetry-cold-start.js';
import { runWrk, type WrkResult } from './wrk.js';

/**
 * `make bench`: this project's functions side by side with the functions a user would write
 * instead (bench/peers/), started the same way, against the same database, row and token, in one
 * run; every figure is printed as a ratio to its peer, since the machine is shared and noisy.
 *
 * Settings: BENCH_DATABASE_URL (a Postgres to make a scratch database on), BENCH_SECONDS (per wrk
 * run, default 8), BENCH_ROUNDS (default 3, medians), BENCH_CONNECTIONS (default 50),
 * BENCH_BCRYPT_COST (default 12, the functions' default), BENCH_ONLY (a comma-separated list of
 * the parts to run: users-get, revocation (on users-get), users-list, cold-start, telemetry,
 * sign-in; default all).
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 8);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 50);
const BCRYPT_COST = Number(process.env['BENCH_BCRYPT_COST'] ?? 12);
const ADMIN_URL = process.env['BENCH_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const PARTS = ['users-get', 'revocation', 'users-list', 'cold-start', 'telemetry', 'sign-in'] as const;
const only = selectedParts(process.env['BENCH_ONLY']);
const runs = (part: (typeof PARTS)[number]) => only.has(part);
const out = (line = '') => process.stdout.write(`${line}\n`);
const ms = (value: number) => `${value.toFixed(value < 10 ? 2 : 1)} ms`;
const ratio = (value: number) => `${value.toFixed(2)}x`;

interface Target {
  readonly what: string;
  readonly value: string;
  readonly met: boolean;
}
const targets: Target[] = [];
const target = (what: string, value: string, met: boolean) => targets.push({ what, value, met });

const bundles = (await ensureBundles()).dir;
const setup = await setUpBench(ADMIN_URL, BCRYPT_COST);
const scratch = await mkdtemp(join(tmpdir(), 'accounts-bench-'));
const sink = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(202).end());
});
await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
const sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/`;
const collector = await startStubCollector();

/** Everything any function may need, so each starts as it would in the cluster. */
const functionEnv = (bench: BenchSetup): Record<string, string> => ({
  DATABASE_URL: bench.databaseUrl,
  DB_POOL_MAX: '10',
  JWT_PUBLIC_KEY: bench.publicKeyPem,
  JWT_PRIVATE_KEY: bench.privateKeyPem,
  SMTP_URL: 'smtp://127.0.0.1:9',
  K_SINK: sinkUrl,
  USERS_VERIFY_URL: 'http://127.0.0.1:9',
  BCRYPT_COST: String(BCRYPT_COST),
  EVENT_SEAL_KEY: randomBytes(32).toString('base64url'),
  ACCOUNT_LINKS_URL: 'http://localhost:8080/docs',
});

/** One of our functions from its bundle; `label` names it in the tables when it runs with other settings. */
const ours = (name: string, env: Record<string, string> = {}, label = name) =>
  startServer(label, ['--enable-source-maps', join(bundles, 'main.js')], { ...functionEnv(setup), FUNCTION_TARGET: name, K_SERVICE: name, ...env });
const peer = (name: string, file: string, framework: boolean) =>
  startServer(
    name,
    framework ? [FRAMEWORK_CLI, '--target=peer', `--source=${join(ROOT, 'bench', 'peers', file)}`] : [join(ROOT, 'bench', 'peers', file)],
    { DATABASE_URL: setup.databaseUrl, JWT_PUBLIC_KEY: setup.publicKeyPem, DB_POOL_MAX: '10' },
    null,
  );

/** The parts BENCH_ONLY names (every part without it); a name that is no part stops the bench before it starts. */
function selectedParts(list: string | undefined): ReadonlySet<string> {
  if (!list) return new Set(PARTS);
  const names = list.split(',').map((name) => name.trim()).filter((name) => name !== '');
  const unknown = names.filter((name) => !(PARTS as readonly string[]).includes(name));
  if (unknown.length > 0) throw new Error(`BENCH_ONLY: no part called ${unknown.join(', ')} (the parts: ${PARTS.join(', ')})`);
  return new Set(names);
}

/**
 * Asks `url` every 50 ms for `seconds`, as a prober would (a saturating load on /healthz would
 * measure the probe, not the function), and answers its latencies' p99.
 */
async function probe(url: string, seconds: number): Promise<{ p99Ms: number; failures: number }> {
  const latencies: number[] = [];
  let failures = 0;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    const began = performance.now();
    const ok = await fetch(url).then((response) => response.ok, () => false);
    latencies.push(performance.now() - began);
    if (!ok) failures += 1;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  latencies.sort((a, b) => a - b);
  return { p99Ms: latencies[Math.floor(0.99 * (latencies.length - 1))] ?? Number.NaN, failures };
}

/** Rounds of wrk against each server in turn (interleaved, so drift hits them alike); medians per server. */
async function compare(servers: readonly Server[], path: string, token: string): Promise<Map<string, WrkResult>> {
  const runs = new Map<string, WrkResult[]>(servers.map((server) => [server.name, []]));
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const server of servers) {
      const result = await runWrk({ url: `${server.url}${path}`, connections: CONNECTIONS, seconds: SECONDS, headers: { authorization: `Bearer ${token}` } });
      if (result.non2xx > 0 || result.errors > 0) throw new Error(`${server.name} ${path}: ${result.non2xx} non-2xx answers, ${result.errors} socket errors`);
      runs.get(server.name)?.push(result);
    }
  }
  return new Map(
    [...runs].map(([name, results]) => [
      name,
      {
        requests: median(results.map((r) => r.requests)),
        perSecond: median(results.map((r) => r.perSecond)),
        p50Ms: median(results.map((r) => r.p50Ms)),
        p99Ms: median(results.map((r) => r.p99Ms)),
        non2xx: 0,
        errors: 0,
      },
    ]),
  );
}

/** The table of one path: every server's figures, and each of ours (`mine`) as a ratio of every other. */
function printComparison(title: string, mine: readonly string[], results: Map<string, WrkResult>): void {
  out(`\n## ${title}`);
  out(`| server | req/s | p50 | p99 | ${mine.map((name) => `${name} is`).join(' | ')} |`);
  out(`|---|---|---|---|${mine.map(() => '---|').join('')}`);
  for (const [name, result] of results) {
    const relative = mine.map((ours) => (name === ours ? '1.00x' : `${ratio((results.get(ours) as WrkResult).perSecond / result.perSecond)} its req/s`));
    out(`| ${name} | ${result.perSecond.toFixed(0)} | ${ms(result.p50Ms)} | ${ms(result.p99Ms)} | ${relative.join(' | ')} |`);
  }
}

/**
 * What revocation costs: every token carries its user's token version, checked against the caller's
 * row. Reading yourself, that row is the one the function reads anyway; an admin reading someone
 * else needs the caller's row too: one more query. Both on the same server, interleaved.
 */
async function measureTokenVersionCheck(usersGet: Server): Promise<void> {
  const cases = [
    { name: 'a user reads themself (version checked on the row read anyway)', path: `/users/${setup.reader.id}`, token: setup.readerToken },
    { name: 'an admin reads another user (the caller\'s row read to check it)', path: `/users/${setup.reader.id}`, token: setup.adminToken },
  ];
  const runs = cases.map(() => [] as WrkResult[]);
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const [index, { path, token }] of cases.entries()) {
      const result = await runWrk({ url: `${usersGet.url}${path}`, connections: CONNECTIONS, seconds: SECONDS, headers: { authorization: `Bearer ${token}` } });
      if (result.non2xx > 0 || result.errors > 0) throw new Error(`users-get ${path}: ${result.non2xx} non-2xx answers, ${result.errors} socket errors`);
      runs[index]?.push(result);
    }
  }
  const [self, other] = runs.map((results) => ({ perSecond: median(results.map((r) => r.perSecond)), p99Ms: median(results.map((r) => r.p99Ms)) }));
  if (!self || !other) return;
  out('\n## The token-version check (revocation) on users-get');
  out('| case | queries | req/s | p99 |');
  out('|---|---|---|---|');
  out(`| ${cases[0]?.name} | 1 | ${self.perSecond.toFixed(0)} | ${ms(self.p99Ms)} |`);
  out(`| ${cases[1]?.name} | 2 | ${other.perSecond.toFixed(0)} | ${ms(other.p99Ms)} |`);
  out(`the check's own query, where it needs one, costs ${((1 - other.perSecond / self.perSecond) * 100).toFixed(0)}% of users-get's req/s`);
}

const PEER_NO_AUTH = 'functions-framework + pg, no auth';
const PEER_FAIR = 'functions-framework + pg + jose ES256';
const PEER_CEILING = 'node:http + pg + jose ES256';
const CACHE_OFF = 'users-get, token cache off';
const READS = [
  { fn: 'users-get', path: `/users/${setup.reader.id}`, token: setup.readerToken, title: 'GET /users/{id}: users-get (cache on, and off: VERIFIED_TOKEN_CACHE_SIZE=0) against its peers' },
  { fn: 'users-list', path: '/users', token: setup.adminToken, title: 'GET /users (a page of 50): users-list against its peers' },
] as const;

try {
  out(`# knative-accounts bench: ${availableParallelism()} CPUs, node ${process.version}, wrk -t1 -c${CONNECTIONS} -d${SECONDS}s, ${ROUNDS} rounds (medians)`);

  // Reads: users-get and users-list against the peers; users-get also with its verified-token cache
  // off, so every request pays the ES256 check as every peer with jose does.
  const reads = READS.filter(({ fn }) => runs(fn));
  const peers = reads.length === 0 ? [] : [await peer(PEER_NO_AUTH, 'ff-pg.js', true), await peer(PEER_FAIR, 'ff-pg-jose.js', true), await peer(PEER_CEILING, 'http-pg-jose.js', false)];
  for (const { fn, path, token, title } of reads) {
    const mine = await ours(fn);
    const cacheOff = fn === 'users-get' ? await ours(fn, { VERIFIED_TOKEN_CACHE_SIZE: '0' }, CACHE_OFF) : undefined;
    const results = await compare([mine, ...(cacheOff ? [cacheOff] : []), ...peers], path, token);
    printComparison(title, cacheOff ? [fn, CACHE_OFF] : [fn], results);
    const me = results.get(fn) as WrkResult;
    const noAuth = results.get(PEER_NO_AUTH) as WrkResult;
    const fair = results.get(PEER_FAIR) as WrkResult;
    target(`${fn} req/s ≥ 1.0x ${PEER_NO_AUTH}`, ratio(me.perSecond / noAuth.perSecond), me.perSecond >= noAuth.perSecond);
    target(`${fn} req/s ≥ 1.5x ${PEER_FAIR}`, ratio(me.perSecond / fair.perSecond), me.perSecond >= 1.5 * fair.perSecond);
    target(`${fn} p99 ≤ 1.2x ${PEER_NO_AUTH}'s`, ratio(me.p99Ms / noAuth.p99Ms), me.p99Ms <= 1.2 * noAuth.p99Ms);
    if (cacheOff) {
      const off = results.get(CACHE_OFF) as WrkResult;
      const ceiling = results.get(PEER_CEILING) as WrkResult;
      target(`${CACHE_OFF} req/s ≥ 0.9x ${PEER_CEILING}`, ratio(off.perSecond / ceiling.perSecond), off.perSecond >= 0.9 * ceiling.perSecond);
      await cacheOff.stop();
    }
    const memory = await memoryOf(mine.child.pid as number);
    out(`${fn} after the load: RSS ${memory.rssMb} MB, peak ${memory.peakMb} MB`);
    if (fn === 'users-get' && runs('revocation')) await measureTokenVersionCheck(mine);
    await mine.stop();
  }
  for (const server of peers) await server.stop();

  if (runs('cold-start')) {
    // Cold start: spawn to the first 200, each function's bundle against a functions-framework hello world.
    out('\n## Cold start: spawn to the first 200 (5 starts each, median), and idle memory');
    const hello: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      const server = await startServer('hello', [FRAMEWORK_CLI, '--target=hello', `--source=${join(ROOT, 'bench', 'peers', 'hello.js')}`], {}, '/');
      hello.push(server.startMs);
      await server.stop();
    }
    const helloMs = median(hello);
    out(`| function | cold start | vs functions-framework hello world (${ms(helloMs)}) | idle RSS (1 s after start) |`);
    out('|---|---|---|---|');
    let slowest = 0;
    let largest = 0;
    for (const spec of INVENTORY) {
      const starts: number[] = [];
      const idle: number[] = [];
      for (let i = 0; i < 5; i += 1) {
        const server = await ours(spec.name);
        starts.push(server.startMs);
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        idle.push((await memoryOf(server.child.pid as number)).rssMb);
        await server.stop();
      }
      const cold = median(starts);
      const rss = median(idle);
      slowest = Math.max(slowest, cold / helloMs);
      largest = Math.max(largest, rss);
      out(`| ${spec.name} | ${ms(cold)} | ${ratio(cold / helloMs)} | ${rss} MB |`);
    }
    target('cold start ≤ 1.2x the functions-framework hello world (slowest function)', ratio(slowest), slowest <= 1.2);
    target('idle RSS < 80 MB (largest function)', `${largest} MB`, largest < 80);
  }

  if (runs('telemetry')) {
    // The same cold start with an OTLP endpoint set (the SDK is loaded and exports to a stand-in collector) against without.
    out('\n## Cold start with telemetry off and on (OTLP/HTTP to a stand-in collector answering 200; 5 starts each, interleaved, median)');
    out('| function | telemetry off | telemetry on | on / off |');
    out('|---|---|---|---|');
    let costliest = 0;
    for (const name of ['users-get', 'auth-login']) {
      const result = await measureTelemetryColdStart((env) => ours(name, env), collector.url);
      costliest = Math.max(costliest, result.ratio);
      out(`| ${name} | ${ms(result.offMs)} | ${ms(result.onMs)} | ${ratio(result.ratio)} |`);
    }
    target('cold start with telemetry on ≤ 1.3x off (the costlier function)', ratio(costliest), costliest <= 1.3);
  }

  if (runs('sign-in')) {
    // Sign-in against the bcrypt bound, and /healthz while it saturates.
    out(`\n## Sign-in at bcrypt cost ${BCRYPT_COST} against the bcrypt bound on the same ${availableParallelism()} CPUs`);
    const hasher = createPasswordHasher({ cost: BCRYPT_COST, threads: availableParallelism() });
    await hasher.hash('warm up');
    const hashes = 8 * availableParallelism();
    const began = performance.now();
    await Promise.all(Array.from({ length: hashes }, () => hasher.verify(setup.password, null)));
    const bound = hashes / ((performance.now() - began) / 1000);
    await hasher.close();
    const verify = await ours('users-verify');
    const login = await ours('auth-login', { USERS_VERIFY_URL: verify.url, LOGIN_MAX_FAILURES_PER_CLIENT: '100000' });
    const script = join(scratch, 'sign-in.lua');
    const bodies = setup.signInEmails.map((email) => JSON.stringify({ email, password: setup.password }));
    await writeFile(
      script,
      `local bodies = { ${bodies.map((body) => `[[${body}]]`).join(', ')} }\nlocal i = 0\nrequest = function()\n  i = i + 1\n  return wrk.format("POST", "/auth/login", { ["Content-Type"] = "application/json" }, bodies[(i % #bodies) + 1])\nend\n`,
    );
    const signInSeconds = Math.max(SECONDS, 10);
    const [signIns, loginHealth, verifyHealth] = await Promise.all([
      runWrk({ url: `${login.url}/auth/login`, connections: 4 * availableParallelism(), seconds: signInSeconds, script }),
      probe(`${login.url}/healthz`, signInSeconds),
      probe(`${verify.url}/healthz`, signInSeconds),
    ]);
    if (signIns.non2xx > 0) throw new Error(`${signIns.non2xx} sign-ins were not 200`);
    out(`bcrypt bound: ${bound.toFixed(1)} compares/s (${hashes} compares on ${availableParallelism()} worker threads)`);
    out(`auth-login: ${signIns.perSecond.toFixed(1)} sign-ins/s, p50 ${ms(signIns.p50Ms)}, p99 ${ms(signIns.p99Ms)}: ${ratio(signIns.perSecond / bound)} the bound`);
    out(`/healthz probed every 50 ms meanwhile: auth-login p99 ${ms(loginHealth.p99Ms)}, users-verify p99 ${ms(verifyHealth.p99Ms)} (${loginHealth.failures + verifyHealth.failures} failed)`);
    target('auth-login sign-ins/s ≥ 0.9x the bcrypt bound', ratio(signIns.perSecond / bound), signIns.perSecond >= 0.9 * bound);
    const healthP99 = Math.max(loginHealth.p99Ms, verifyHealth.p99Ms);
    target('/healthz p99 < 50 ms while sign-in saturates (the slower of auth-login and users-verify)', ms(healthP99), healthP99 < 50 && loginHealth.failures + verifyHealth.failures === 0);
    await login.stop();
    await verify.stop();
  }

  out('\n## Targets');
  for (const { what, value, met } of targets) out(`${met ? 'met    ' : 'MISSED '} ${what}: ${value}`);
} finally {
  sink.close();
  await collector.close();
  await rm(scratch, { recursive: true, force: true });
  await setup.drop();
}
