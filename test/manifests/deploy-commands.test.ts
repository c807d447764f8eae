import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INVENTORY, specOf } from '../../functions/inventory.js';
import { DEFAULT_IMAGE, packageVersion } from '../../scripts/manifests.js';
import { canaryCommands, formatCommand, promoteCommands, rollbackCommands, statusCommands } from '../../scripts/rollout.js';
import { ROOT, kustomize, parseDocuments } from './manifest-support.js';

/**
 * The cluster commands the Makefile would run, printed with DRY_RUN=1 by the real make targets;
 * nothing here talks to a cluster, a registry or docker.
 */

const SECRET_VARIABLES = ['POSTGRES_PASSWORD', 'USERS_DB_PASSWORD', 'CREDENTIALS_DB_PASSWORD', 'AUTH_DB_PASSWORD', 'NOTIFY_DB_PASSWORD', 'JWT_PRIVATE_KEY_FILE', 'JWT_PUBLIC_KEY_FILE', 'SMTP_URL', 'EVENT_SEAL_KEY'];
/** Variables of the caller's shell that would change what make does (make reads them as defaults). */
const INHERITED = ['IMAGE', 'VERSION', 'NAMESPACE', 'INGRESS', 'DRY_RUN', 'FN', 'PERCENT', 'STABLE_REVISION', 'JWT_KEY_ID', 'MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'MAKEOVERRIDES', ...SECRET_VARIABLES];

interface MakeResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly lines: string[];
}

/**
 * `make -s ARGS` in the repository root. `-o node_modules/.installed` treats the install stamp as
 * up to date: node_modules is installed, and a test must never run `npm ci` in a shared checkout
 * (which the stamp's prerequisites would trigger whenever package.json is newer than it).
 */
function make(args: string[], env: Record<string, string> = {}): Promise<MakeResult> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([key]) => !INHERITED.includes(key))) as Record<string, string>;
  return new Promise((resolve, reject) => {
    // Its own process group, so a timeout stops make and everything it started (npx, tsx, node).
    const child = spawn('make', ['-s', '-o', 'node_modules/.installed', ...args], { cwd: ROOT, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    }, 20_000);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (status, signal) => {
      clearTimeout(timer);
      if (signal) reject(new Error(`make ${args.join(' ')} killed by ${signal} (timeout?)\n${stderr}`));
      else resolve({ status, stdout, stderr, lines: stdout.split('\n').filter((line) => line.trim() !== '') });
    });
  });
}

let version: string;

beforeAll(async () => {
  version = await packageVersion();
  expect(version).not.toBe('0.2.0'); // the canary cases below deploy 0.2.0 next to the stable version
});

describe.concurrent('make canary / promote / rollback / status (DRY_RUN=1)', () => {
  const stable = () => `users-get-v${version.split('.').join('-')}`;

  it('canary prints exactly one kn service update: new image and revision, the traffic split, the canary tag', async () => {
    const result = await make(['canary', 'FN=users-get', 'PERCENT=10', 'VERSION=0.2.0', 'DRY_RUN=1']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.lines).toEqual([
      `kn service update users-get --namespace accounts --image ${DEFAULT_IMAGE}:0.2.0 --revision-name users-get-v0-2-0 ` +
        `--traffic ${stable()}=90,users-get-v0-2-0=10 --tag users-get-v0-2-0=canary`,
    ]);
  });

  it('canary honours IMAGE and NAMESPACE', async () => {
    const result = await make(['canary', 'FN=auth-jwks', 'PERCENT=25', 'VERSION=0.2.0', 'IMAGE=registry.example.com/accounts', 'NAMESPACE=staging', 'DRY_RUN=1']);
    expect(result.status).toBe(0);
    expect(result.lines).toHaveLength(1);
    expect(result.lines[0]).toContain('kn service update auth-jwks --namespace staging --image registry.example.com/accounts:0.2.0 ');
    expect(result.lines[0]).toContain('=75,auth-jwks-v0-2-0=25 ');
  });

  it('promote sends all traffic to the latest revision and drops the canary tag', async () => {
    const result = await make(['promote', 'FN=users-get', 'DRY_RUN=1']);
    expect(result.status).toBe(0);
    expect(result.lines).toEqual(['kn service update users-get --namespace accounts --traffic @latest=100 --untag canary']);
  });

  it('rollback sends all traffic back to the stable revision and drops the canary tag', async () => {
    const result = await make(['rollback', 'FN=users-get', 'DRY_RUN=1']);
    expect(result.status).toBe(0);
    expect(result.lines).toEqual([`kn service update users-get --namespace accounts --traffic ${stable()}=100 --untag canary`]);
  });

  it('status lists the services, then the revisions of every function once', async () => {
    const result = await make(['status', 'DRY_RUN=1']);
    expect(result.status).toBe(0);
    expect(result.lines).toEqual([
      'kn service list --namespace accounts',
      ...INVENTORY.map((spec) => `kn revision list --namespace accounts --service ${spec.name}`),
    ]);
  });

  it.each([
    ['an unknown function', ['canary', 'FN=users-gett', 'PERCENT=10', 'VERSION=0.2.0'], /FN must name a function: users-create, .*users-get,/],
    ['no function', ['promote', 'FN='], /FN must name a function/],
    ['PERCENT 0', ['canary', 'FN=users-get', 'PERCENT=0', 'VERSION=0.2.0'], /PERCENT must be a whole number from 1 to 99/],
    ['PERCENT 100', ['canary', 'FN=users-get', 'PERCENT=100', 'VERSION=0.2.0'], /PERCENT must be a whole number from 1 to 99/],
    ['PERCENT ten', ['canary', 'FN=users-get', 'PERCENT=ten', 'VERSION=0.2.0'], /PERCENT must be a whole number from 1 to 99/],
    ['no PERCENT', ['canary', 'FN=users-get', 'VERSION=0.2.0'], /PERCENT must be a whole number from 1 to 99/],
    ['VERSION latest', ['canary', 'FN=users-get', 'PERCENT=10', 'VERSION=latest'], /VERSION must be a version, never "latest"/],
  ])('refuses %s with a clear message and runs nothing', async (_case, args, message) => {
    const result = await make([...args, 'DRY_RUN=1']);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).not.toMatch(/^kn /m);
  });

  it('refuses a canary of the version that already serves', async () => {
    const result = await make(['canary', 'FN=users-get', 'PERCENT=10', `VERSION=${version}`, 'DRY_RUN=1']);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(`${stable()} already serves; bump VERSION for a canary`);
    expect(result.stdout).not.toMatch(/^kn /m);
  });
});

describe.concurrent('make image / push (DRY_RUN=1)', () => {
  it('builds the image tagged with VERSION', async () => {
    const result = await make(['image', 'IMAGE=r/x', 'VERSION=1.2.3', 'DRY_RUN=1']);
    expect(result.status).toBe(0);
    expect(result.lines).toEqual(['docker build --tag r/x:1.2.3 .']);
  });

  it('tags with the package.json version when VERSION is not given', async () => {
    const result = await make(['image', 'IMAGE=r/x', 'DRY_RUN=1']);
    expect(result.lines).toEqual([`docker build --tag r/x:${version} .`]);
  });

  it.each(['image', 'push'])('%s refuses VERSION=latest', async (target) => {
    const result = await make([target, 'IMAGE=r/x', 'VERSION=latest', 'DRY_RUN=1']);
    expect(result.status).not.toBe(0);
    expect(result.stdout + result.stderr).toContain('VERSION must be a version, never latest');
    expect(result.stdout).not.toMatch(/^docker /m);
  });

  it('pushes the tag it built', async () => {
    const result = await make(['push', 'IMAGE=r/x', 'VERSION=1.2.3', 'DRY_RUN=1']);
    expect(result.lines).toEqual(['docker push r/x:1.2.3']);
  });
});

describe('make secrets / deploy (DRY_RUN=1)', () => {
  let keysDir: string;
  let secretEnv: Record<string, string>;

  beforeAll(async () => {
    keysDir = await mkdtemp(join(tmpdir(), 'accounts-dummy-keys-'));
    secretEnv = {
      POSTGRES_PASSWORD: 'pg-dummy-Qx71',
      USERS_DB_PASSWORD: 'users-dummy-Qx72',
      CREDENTIALS_DB_PASSWORD: 'credentials-dummy-Qx78',
      AUTH_DB_PASSWORD: 'auth-dummy-Qx73',
      NOTIFY_DB_PASSWORD: 'notify-dummy-Qx74',
      JWT_PRIVATE_KEY_FILE: join(keysDir, 'private-dummy-Qx75.pem'),
      JWT_PUBLIC_KEY_FILE: join(keysDir, 'public-dummy-Qx76.pem'),
      SMTP_URL: 'smtps://mailer:smtp-dummy-Qx77@smtp.example.com:465',
      EVENT_SEAL_KEY: 'c2VhbC1kdW1teS1ReDc5LXNlYWwtZHVtbXktUXg3OS0=',
    };
  });

  afterAll(async () => {
    if (keysDir) await rm(keysDir, { recursive: true, force: true });
  });

  const expectNoSecretValue = (result: MakeResult) => {
    for (const [name, value] of Object.entries(secretEnv)) {
      const secretPart = name === 'SMTP_URL' ? 'smtp-dummy-Qx77' : value;
      expect(result.stdout, `${name} printed`).not.toContain(secretPart);
      expect(result.stderr, `${name} printed`).not.toContain(secretPart);
    }
  };

  it('secrets fails naming every missing variable', async () => {
    const result = await make(['secrets', 'DRY_RUN=1']);
    expect(result.status).not.toBe(0);
    for (const name of SECRET_VARIABLES) expect(result.stderr).toContain(name);
    expect(result.stdout).not.toContain('kubectl');
  });

  it('secrets names only the variables still missing', async () => {
    const result = await make(['secrets', 'DRY_RUN=1'], { POSTGRES_PASSWORD: secretEnv['POSTGRES_PASSWORD']!, SMTP_URL: secretEnv['SMTP_URL']! });
    expect(result.status).not.toBe(0);
    const missing = SECRET_VARIABLES.filter((name) => !['POSTGRES_PASSWORD', 'SMTP_URL'].includes(name));
    expect(result.stderr).toContain(`set ${missing.join(' ')}`);
    expectNoSecretValue(result);
  });

  it('secrets percent-encodes the passwords inside the database URLs (a generated password may hold / + = @ :)', async () => {
    // A stand-in kubectl on PATH records what `make secrets` would create; nothing reaches a cluster.
    const bin = join(keysDir, 'bin');
    const calls = join(keysDir, 'calls');
    await mkdir(bin);
    await mkdir(calls);
    await writeFile(
      join(bin, 'kubectl'),
      '#!/bin/sh\nif [ "$1" = create ]; then printf \'%s\\0\' "$@" > "$KUBECTL_CALLS/$4"; else cat >/dev/null; fi\n',
      { mode: 0o755 },
    );
    const passwords = { POSTGRES_PASSWORD: 'ab/c+d=', USERS_DB_PASSWORD: 'p@ss:w#rd%', CREDENTIALS_DB_PASSWORD: 'cr/ed@ent:ials', AUTH_DB_PASSWORD: 'plain-Pass_1.~', NOTIFY_DB_PASSWORD: 'pä ss?x' };
    const result = await make(['secrets'], { ...secretEnv, ...passwords, PATH: `${bin}:${process.env['PATH'] ?? ''}`, KUBECTL_CALLS: calls });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const cases = [
      ['accounts-postgres', 'postgres', passwords.POSTGRES_PASSWORD],
      ['accounts-db-users', 'users_fn', passwords.USERS_DB_PASSWORD],
      ['accounts-db-credentials', 'credentials_fn', passwords.CREDENTIALS_DB_PASSWORD],
      ['accounts-db-auth', 'auth_fn', passwords.AUTH_DB_PASSWORD],
      ['accounts-db-notify', 'notify_fn', passwords.NOTIFY_DB_PASSWORD],
    ] as const;
    for (const [secret, user, password] of cases) {
      const args = (await readFile(join(calls, secret), 'utf8')).split('\0');
      expect(args).toContain(`--from-literal=password=${password}`);
      const url = new URL(args.find((arg) => arg.startsWith('--from-literal=url='))!.slice('--from-literal=url='.length));
      expect(url.protocol).toBe('postgres:');
      expect(url.username).toBe(user);
      expect(decodeURIComponent(url.password), secret).toBe(password);
      expect(url.host).toBe('accounts-postgres.accounts.svc.cluster.local:5432');
      expect(url.pathname).toBe('/accounts');
    }
  });

  it('deploy prints every step in order, secrets without their values, and the generated manifests match the wait', async () => {
    const result = await make(['deploy', 'DRY_RUN=1', 'IMAGE=registry.example.com/accounts', 'VERSION=0.2.0'], secretEnv);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expectNoSecretValue(result);
    const secret = (name: string, args: string) => `kubectl create secret generic ${name} --namespace accounts ${args} | kubectl apply -f -`;
    expect(result.lines).toEqual([
      expect.stringMatching(/^wrote \d+ manifests for registry\.example\.com\/accounts:0\.2\.0 into \.deploy$/),
      'kubectl apply -k .deploy/namespace',
      // The network policies before anything in the namespace starts: the default deny, then the allowed flows.
      'kubectl apply -k .deploy/network',
      secret('accounts-postgres', '--from-literal=password=… --from-literal=url=…'),
      secret('accounts-db-users', '--from-literal=password=… --from-literal=url=…'),
      secret('accounts-db-credentials', '--from-literal=password=… --from-literal=url=…'),
      secret('accounts-db-auth', '--from-literal=password=… --from-literal=url=…'),
      secret('accounts-db-notify', '--from-literal=password=… --from-literal=url=…'),
      secret('accounts-jwt', '--from-file=private-key=… --from-file=public-key=… --from-literal=key-id=…'),
      secret('accounts-smtp', '--from-literal=url=…'),
      secret('accounts-event-seal', '--from-literal=key=…'),
      'kubectl apply -k .deploy/postgres',
      'kubectl --namespace accounts rollout status statefulset/accounts-postgres --timeout=300s',
      'kubectl apply -k .deploy/migrate',
      'kubectl --namespace accounts wait --for=condition=complete --timeout=300s job -l app.kubernetes.io/name=accounts-migrate,app.kubernetes.io/version=0.2.0',
      // Everything but the EventPolicy, which Knative Eventing refuses while authentication-oidc is off...
      'kubectl apply -k eventing --selector accounts.knative.dev/requires-feature!=authentication-oidc',
      // ...and then the EventPolicy, where the cluster has the feature on (a dry run cannot ask, so it says so).
      "kubectl apply -k eventing --selector accounts.knative.dev/requires-feature=authentication-oidc   # only where knative-eventing's config-features sets authentication-oidc: enabled",
      'kubectl --namespace accounts wait --for=condition=Ready --timeout=300s broker/user-login-event',
      'kubectl apply -k .deploy/services',
    ]);

    // What those kubectl apply -k would apply: the requested image, and a Job the wait selects.
    const services = kustomize('.deploy/services');
    expect(services.status).toBe(0);
    for (const { object } of parseDocuments(services.stdout, '.deploy/services')) {
      expect((object as any).spec.template.spec.containers[0].image).toBe('registry.example.com/accounts:0.2.0');
    }
    const migrate = kustomize('.deploy/migrate');
    expect(migrate.status).toBe(0);
    const [job] = parseDocuments(migrate.stdout, '.deploy/migrate');
    expect(job?.object.metadata?.['labels']).toMatchObject({ 'app.kubernetes.io/name': 'accounts-migrate', 'app.kubernetes.io/version': '0.2.0' });
    // The network policies do not depend on the image: with the default INGRESS they are the committed ones.
    for (const dir of ['namespace', 'network', 'postgres']) {
      expect(kustomize(`.deploy/${dir}`).stdout, `.deploy/${dir} is knative/${dir}`).toBe(kustomize(`knative/${dir}`).stdout);
    }
    // The two eventing selectors split eventing/ in two: every resource is applied by exactly one of them.
    const eventing = parseDocuments(kustomize('eventing').stdout, 'eventing').map(({ object }) => object);
    const needsOidc = (object: (typeof eventing)[number]) => (object.metadata?.['labels'] as Record<string, string> | undefined)?.['accounts.knative.dev/requires-feature'] === 'authentication-oidc';
    expect(eventing.filter(needsOidc).map((object) => object.kind)).toEqual(['EventPolicy']);
    expect(eventing.filter((object) => !needsOidc(object)).length).toBe(eventing.length - 1);
  });

  it('deploy stops at the secrets step when a variable is missing: nothing after it runs', async () => {
    const withoutSmtp = Object.fromEntries(Object.entries(secretEnv).filter(([name]) => name !== 'SMTP_URL'));
    const result = await make(['deploy', 'DRY_RUN=1'], withoutSmtp);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('SMTP_URL');
    expect(result.stdout).not.toContain('.deploy/postgres');
    expectNoSecretValue(result);
  });

  it('deploy refuses VERSION=latest before applying anything', async () => {
    const result = await make(['deploy', 'DRY_RUN=1', 'VERSION=latest'], secretEnv);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('never "latest"');
    expect(result.stdout).not.toContain('kubectl');
  });

  it("deploy INGRESS=istio lets Istio's gateway pods in instead of Kourier's", async () => {
    const result = await make(['deploy', 'DRY_RUN=1', 'INGRESS=istio'], secretEnv);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const network = kustomize('.deploy/network');
    expect(network.status).toBe(0);
    expect(network.stdout).toContain('kubernetes.io/metadata.name: istio-system');
    expect(network.stdout).not.toContain('kourier-system');
  });

  it('deploy refuses an INGRESS the network policies know no gateway of, before applying anything', async () => {
    const result = await make(['deploy', 'DRY_RUN=1', 'INGRESS=nginx'], secretEnv);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('INGRESS must be one of kourier, istio, contour');
    expect(result.stdout).not.toContain('kubectl');
  });
});

describe('scripts/rollout.ts commands', () => {
  const context = { image: 'r/x', version: '0.2.0', namespace: 'ns', stableRevision: 'users-get-v0-1-0' };

  it('canaryCommands: one kn service update with image, revision name, split and tag', () => {
    expect(canaryCommands(specOf('users-get'), 10, context)).toEqual([
      [
        'kn', 'service', 'update', 'users-get', '--namespace', 'ns', '--image', 'r/x:0.2.0', '--revision-name', 'users-get-v0-2-0',
        '--traffic', 'users-get-v0-1-0=90,users-get-v0-2-0=10', '--tag', 'users-get-v0-2-0=canary',
      ],
    ]);
    expect(canaryCommands(specOf('users-get'), 1, context)[0]).toContain('users-get-v0-1-0=99,users-get-v0-2-0=1');
    expect(canaryCommands(specOf('users-get'), 99, context)[0]).toContain('users-get-v0-1-0=1,users-get-v0-2-0=99');
  });

  it.each([0, 100, -5, 10.5, Number.NaN])('canaryCommands refuses PERCENT %s', (percent) => {
    expect(() => canaryCommands(specOf('users-get'), percent, context)).toThrow('PERCENT must be a whole number from 1 to 99');
  });

  it('canaryCommands refuses to split traffic between a revision and itself', () => {
    expect(() => canaryCommands(specOf('users-get'), 10, { ...context, version: '0.1.0' })).toThrow('users-get-v0-1-0 already serves');
  });

  it('promote, rollback and status commands', () => {
    expect(promoteCommands(specOf('auth-login'), { namespace: 'ns' })).toEqual([
      ['kn', 'service', 'update', 'auth-login', '--namespace', 'ns', '--traffic', '@latest=100', '--untag', 'canary'],
    ]);
    expect(rollbackCommands(specOf('auth-login'), { namespace: 'ns', stableRevision: 'auth-login-v0-1-0' })).toEqual([
      ['kn', 'service', 'update', 'auth-login', '--namespace', 'ns', '--traffic', 'auth-login-v0-1-0=100', '--untag', 'canary'],
    ]);
    const status = statusCommands('ns');
    expect(status[0]).toEqual(['kn', 'service', 'list', '--namespace', 'ns']);
    expect(status.slice(1).map((command) => command.at(-1))).toEqual(INVENTORY.map((spec) => spec.name));
  });

  it('formatCommand leaves plain words alone and single-quotes everything else', () => {
    expect(formatCommand(['kn', '--traffic', '@latest=100', 'a/b:1.0,c%d+e'])).toBe('kn --traffic @latest=100 a/b:1.0,c%d+e');
    expect(formatCommand(['echo', 'two words', "it's", ''])).toBe(`echo 'two words' 'it'\\''s' ''`);
  });

  it('formatCommand output pasted into a shell gives back exactly the same arguments', () => {
    const parts = ['plain', 'two words', "it's", '', '$HOME', '`id`', 'a;b', 'x|y', '"q"', 'back\\slash', '*', 'new\nline', 'tab\there'];
    const printed = spawnSync('bash', ['-c', `printf '%s\\0' ${formatCommand(parts)}`], { encoding: 'utf8', timeout: 5_000 });
    expect(printed.status).toBe(0);
    expect(printed.stdout.split('\0').slice(0, -1)).toEqual(parts);
  });
});
