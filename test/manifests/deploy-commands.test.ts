import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INVENTORY, specOf } from '../../functions/inventory.js';
import { packageVersion } from '../../scripts/deploy/manifests.js';
import { ROLLOUT_STATE_FILE, readRolloutState } from '../../scripts/deploy/rollout-state.js';
import { secretsOf } from '../../scripts/deploy/services.js';
import { applyServiceCommands, checkNamespace, contractCommands, formatCommand, migrateCommands, statusCommands } from '../../scripts/deploy/rollout.js';
import { ROOT, SECRET_VARIABLES, kustomize, make, parseDocuments, type MakeResult } from './manifest-support.js';

/**
 * The cluster commands the Makefile would run, printed with DRY_RUN=1 by the real make targets;
 * nothing here talks to a cluster, a registry or docker.
 */

let version: string;
/** Rollout states and generated manifests of the make runs below: copies in a folder of this file's own. */
let scratch: string;
let runs = 0;

beforeAll(async () => {
  version = await packageVersion();
  expect(version).not.toBe('0.2.0'); // the canary cases below deploy 0.2.0 next to the stable version
  scratch = await mkdtemp(join(tmpdir(), 'accounts-deploy-commands-'));
});

afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** A copy of the committed rollout state and a manifests folder for one make run; the committed file never changes. */
async function ownRollout(): Promise<{ ROLLOUT_STATE: string; DEPLOY_DIR: string }> {
  const dir = join(scratch, `run-${++runs}`);
  await mkdir(dir);
  await copyFile(ROLLOUT_STATE_FILE, join(dir, 'rollout.yaml'));
  return { ROLLOUT_STATE: join(dir, 'rollout.yaml'), DEPLOY_DIR: join(dir, 'deploy') };
}

// Each case starts make, npx and tsx: a loaded machine makes that slow, never wrong.
describe.concurrent('make canary / promote / rollback / contract / status (DRY_RUN=1)', { timeout: 120_000 }, () => {
  // The whole sequence, and what each step applies, is in rollouts.test.ts.
  it('canary honours IMAGE, and with DRY_RUN=1 writes the manifests into DEPLOY_DIR but not the state', async () => {
    const rollout = await ownRollout();
    const result = await make(['canary', 'FN=auth-jwks', 'PERCENT=25', 'VERSION=0.2.0', 'IMAGE=registry.example.com/accounts', 'DRY_RUN=1'], rollout);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.lines).toContain(`kubectl apply --namespace accounts -f ${rollout.DEPLOY_DIR}/services/auth-jwks.yaml`);
    expect(result.lines).toContain(
      `kubectl --namespace accounts wait --for=condition=complete --timeout=300s job -l app.kubernetes.io/name=accounts-migrate,app.kubernetes.io/version=0.2.0`,
    );
    expect(result.lines).toContain('kubectl wait --for=condition=Ready --timeout=300s ksvc/auth-jwks --namespace accounts');
    expect(result.lines.at(-1)).toMatch(new RegExp(`^${rollout.ROLLOUT_STATE} \\(not written, DRY_RUN=1\\): auth-jwks: .* 75% \\(stable\\), auth-jwks-v0-2-0-[0-9a-f]{7} 25% \\(canary\\)$`));
    expect(await readFile(rollout.ROLLOUT_STATE, 'utf8')).toBe(await readFile(ROLLOUT_STATE_FILE, 'utf8'));
    expect(await readFile(join(rollout.DEPLOY_DIR, 'services/auth-jwks.yaml'), 'utf8')).toContain('image: registry.example.com/accounts:0.2.0');
  });

  it.each([
    ['on the command line', ['NAMESPACE=staging'], {}],
    ['in the environment', [], { NAMESPACE: 'staging' }],
  ])('refuses a NAMESPACE other than accounts %s: the manifests would still name accounts', async (_case, args, env) => {
    for (const target of [['canary', 'FN=auth-jwks', 'PERCENT=25', 'VERSION=0.2.0'], ['deploy'], ['status'], ['secrets']]) {
      const rollout = await ownRollout();
      const result = await make([...target, ...args, 'DRY_RUN=1'], { ...rollout, ...env });
      expect(result.status, target[0]).not.toBe(0);
      expect(result.stderr).toContain('NAMESPACE=staging: the manifests and kustomizations name the namespace accounts');
      expect(result.stderr).toContain('change NAMESPACE in scripts/deploy/namespace.ts and run npm run manifests');
      expect(result.stdout).not.toMatch(/^(kn|kubectl) /m);
      expect(await readFile(rollout.ROLLOUT_STATE, 'utf8')).toBe(await readFile(ROLLOUT_STATE_FILE, 'utf8'));
    }
  });

  it('a NAMESPACE of accounts in the environment is no override: commands run as usual', async () => {
    const result = await make(['status', 'DRY_RUN=1'], { NAMESPACE: 'accounts' });
    expect(result.status).toBe(0);
    expect(result.lines[0]).toBe('kn service list --namespace accounts');
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
    ['a malformed SET_ENV', ['canary', 'FN=users-get', 'PERCENT=10', 'VERSION=0.2.0', 'SET_ENV=LOG_LEVEL'], /SET_ENV takes NAME=value pairs separated by spaces, not "LOG_LEVEL"/],
    ['a SET_ENV that replaces a Secret reference', ['canary', 'FN=users-get', 'PERCENT=10', 'VERSION=0.2.0', 'SET_ENV=DATABASE_URL=postgres://x'], /DATABASE_URL cannot be set \(it comes from the Secret accounts-db-users\)/],
    ['a promote without a canary', ['promote', 'FN=users-get'], /users-get has no canary in flight: nothing to promote/],
  ])('refuses %s with a clear message, changes no state and runs nothing', async (_case, args, message) => {
    const rollout = await ownRollout();
    const result = await make([...args, 'DRY_RUN=1'], rollout);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).not.toMatch(/^(kn|kubectl) /m);
    expect(await readFile(rollout.ROLLOUT_STATE, 'utf8')).toBe(await readFile(ROLLOUT_STATE_FILE, 'utf8'));
  });

  it('refuses a canary of the version that already serves, with the same template', async () => {
    const rollout = await ownRollout();
    const result = await make(['canary', 'FN=users-get', 'PERCENT=10', `VERSION=${version}`, 'DRY_RUN=1'], rollout);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(new RegExp(`users-get-v${version.split('.').join('-')}-[0-9a-f]{7} already serves users-get`));
    expect(result.stdout).not.toMatch(/^(kn|kubectl) /m);
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

// Each deploy starts make, npx and tsx several times: slow on a loaded machine, never wrong.
describe('make secrets / deploy (DRY_RUN=1)', { timeout: 180_000 }, () => {
  let keysDir: string;
  let secretEnv: Record<string, string>;
  /** The cluster's pod networks, which make deploy writes into the ConfigMap accounts-client-addresses. */
  const TRUSTED_PROXY_CIDRS = '10.244.0.0/16, fd00:10:244::/56';
  const deployEnv = (more: Record<string, string>) => ({ ...secretEnv, TRUSTED_PROXY_CIDRS, ...more });

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
    const rollout = { ROLLOUT_STATE: (await ownRollout()).ROLLOUT_STATE };
    const result = await make(['deploy', 'DRY_RUN=1', 'IMAGE=registry.example.com/accounts', 'VERSION=0.2.0'], deployEnv(rollout));
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expectNoSecretValue(result);
    const secret = (name: string, args: string) => `kubectl create secret generic ${name} --namespace accounts ${args} | kubectl apply -f -`;
    expect(result.lines).toEqual([
      expect.stringMatching(/^wrote \d+ manifests for registry\.example\.com\/accounts:0\.2\.0 into \.deploy$/),
      'wrote the ConfigMap accounts-client-addresses (TRUSTED_PROXY_CIDRS) into .deploy/client-addresses',
      'kubectl apply -k .deploy/namespace',
      // The network policies before anything in the namespace starts: the default deny, then the allowed flows.
      'kubectl apply -k .deploy/network',
      // Kourier's Envoy appends the client it saw, which the load balancer leaves as the source (docs/deploying.md, "Client addresses").
      `kubectl patch configmap/config-kourier --namespace knative-serving --type merge --patch '{"data":{"use-remote-address":"true"}}'`,
      `kubectl patch service/kourier --namespace kourier-system --type merge --patch '{"spec":{"externalTrafficPolicy":"Local"}}'`,
      secret('accounts-postgres', '--from-literal=password=… --from-literal=url=…'),
      secret('accounts-db-users', '--from-literal=password=… --from-literal=url=…'),
      secret('accounts-db-credentials', '--from-literal=password=… --from-literal=url=…'),
      secret('accounts-db-auth', '--from-literal=password=… --from-literal=url=…'),
      secret('accounts-db-notify', '--from-literal=password=… --from-literal=url=…'),
      secret('accounts-jwt', '--from-file=private-key=… --from-file=public-key=… --from-literal=key-id=…'),
      secret('accounts-smtp', '--from-literal=url=…'),
      secret('accounts-event-seal', '--from-literal=key=…'),
      // Once they are applied, the resourceVersion of every Secret a function references: the revision templates follow them.
      ...['accounts-db-auth', 'accounts-db-credentials', 'accounts-db-notify', 'accounts-db-users', 'accounts-event-seal', 'accounts-jwt', 'accounts-smtp'].map(
        (name) => `kubectl get secret ${name} --namespace accounts -o 'jsonpath={.metadata.resourceVersion}'`,
      ),
      expect.stringMatching(/^wrote \d+ manifests for registry\.example\.com\/accounts:0\.2\.0 into \.deploy$/),
      // TRUSTED_PROXY_CIDRS for the functions that count per client, before any of them starts.
      'kubectl apply -k .deploy/client-addresses',
      'kubectl apply -k .deploy/postgres',
      'kubectl --namespace accounts rollout status statefulset/accounts-postgres --timeout=300s',
      'kubectl apply -k .deploy/migrate',
      'kubectl --namespace accounts wait --for=condition=complete --timeout=300s job -l app.kubernetes.io/name=accounts-migrate,app.kubernetes.io/version=0.2.0',
      // Everything but the EventPolicy, which Knative Eventing refuses while authentication-oidc is off...
      'kubectl apply -k eventing --selector accounts.knative.dev/requires-feature!=authentication-oidc',
      // ...and then the EventPolicy, where the cluster has the feature on (a dry run cannot ask, so it says so).
      "kubectl apply -k eventing --selector accounts.knative.dev/requires-feature=authentication-oidc   # only where knative-eventing's config-features sets authentication-oidc: enabled",
      'kubectl --namespace accounts wait --for=condition=Ready --timeout=300s broker/accounts-events',
      'kubectl apply -k .deploy/services',
      'kubectl wait --for=condition=Ready --timeout=300s ksvc -l app.kubernetes.io/part-of=knative-accounts --namespace accounts',
      // The rollout state last, once every Service is Ready: every function's stable revision is the new version's, all the traffic.
      `${rollout.ROLLOUT_STATE} (not written, DRY_RUN=1): every function stable at 0.2.0, 100%, no canary`,
    ]);

    expect(await readFile(rollout.ROLLOUT_STATE, 'utf8'), 'a dry run writes no state').toBe(await readFile(ROLLOUT_STATE_FILE, 'utf8'));
    const state = await readRolloutState(join(ROOT, '.deploy/rollout-planned.yaml'), INVENTORY.map((spec) => spec.name));
    for (const spec of INVENTORY) {
      expect(state?.[spec.name], spec.name).toEqual({
        stable: {
          image: 'registry.example.com/accounts',
          version: '0.2.0',
          // A dry run cannot read the Secrets' versions: every function that references one gets the same placeholder's hash.
          ...(secretsOf(spec).length > 0 ? { secretsVersion: expect.stringMatching(/^[0-9a-f]{10}$/) } : {}),
          revision: expect.stringMatching(new RegExp(`^${spec.name}-v0-2-0-[0-9a-f]{7}$`)),
        },
      });
    }

    // What those kubectl apply -k would apply: the requested image, and a Job the wait selects.
    const services = kustomize('.deploy/services');
    expect(services.status).toBe(0);
    const applied = parseDocuments(services.stdout, '.deploy/services').map(({ object }) => object);
    expect(applied.filter((object) => object.kind === 'Service')).toHaveLength(INVENTORY.length);
    // Besides the Services, only the disruption budgets of the warm functions.
    expect(new Set(applied.filter((object) => object.kind !== 'Service').map((object) => `${object.apiVersion} ${object.kind}`))).toEqual(new Set(['policy/v1 PodDisruptionBudget']));
    for (const object of applied.filter((entry) => entry.kind === 'Service')) {
      expect((object as any).spec.template.spec.containers[0].image).toBe('registry.example.com/accounts:0.2.0');
    }
    const clientAddresses = kustomize('.deploy/client-addresses');
    expect(clientAddresses.status).toBe(0);
    expect(parseDocuments(clientAddresses.stdout, '.deploy/client-addresses').map(({ object }) => object)).toEqual([
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'accounts-client-addresses', namespace: 'accounts', labels: { 'app.kubernetes.io/part-of': 'knative-accounts' } },
        data: { 'trusted-proxy-cidrs': '10.244.0.0/16,fd00:10:244::/56' },
      },
    ]);
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
    const result = await make(['deploy', 'DRY_RUN=1'], { ...withoutSmtp, TRUSTED_PROXY_CIDRS, ROLLOUT_STATE: (await ownRollout()).ROLLOUT_STATE });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('SMTP_URL');
    expect(result.stdout).not.toContain('.deploy/postgres');
    expectNoSecretValue(result);
  });

  it('deploy refuses VERSION=latest before applying anything', async () => {
    const rollout = await ownRollout();
    const result = await make(['deploy', 'DRY_RUN=1', 'VERSION=latest'], deployEnv({ ROLLOUT_STATE: rollout.ROLLOUT_STATE }));
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('never "latest"');
    expect(result.stdout).not.toContain('kubectl');
    expect(await readFile(rollout.ROLLOUT_STATE, 'utf8'), 'the rollout state is unchanged').toBe(await readFile(ROLLOUT_STATE_FILE, 'utf8'));
  });

  it.each([
    ['without it', {}, /TRUSTED_PROXY_CIDRS must name the networks of the proxies in front of the functions: the pod networks of the cluster/],
    ['with an address that is no network', { TRUSTED_PROXY_CIDRS: '10.244.0.0/16,10.128.0.5' }, /TRUSTED_PROXY_CIDRS must be comma-separated CIDRs; not one: 10\.128\.0\.5/],
    ['trusting every address', { TRUSTED_PROXY_CIDRS: '::/0' }, /TRUSTED_PROXY_CIDRS must name the proxies' networks, not every address/],
  ])('deploy refuses TRUSTED_PROXY_CIDRS %s, before recording or applying anything', async (_case, given, message) => {
    const rollout = await ownRollout();
    const result = await make(['deploy', 'DRY_RUN=1'], { ...secretEnv, ...given, ROLLOUT_STATE: rollout.ROLLOUT_STATE });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).not.toContain('kubectl');
    expect(await readFile(rollout.ROLLOUT_STATE, 'utf8'), 'the rollout state is unchanged').toBe(await readFile(ROLLOUT_STATE_FILE, 'utf8'));
  });

  it.each([
    ['kourier', [
      `kubectl patch configmap/config-kourier --namespace knative-serving --type merge --patch '{"data":{"use-remote-address":"true"}}'`,
      `kubectl patch service/kourier --namespace kourier-system --type merge --patch '{"spec":{"externalTrafficPolicy":"Local"}}'`,
    ]],
    ['istio', [`kubectl patch service/istio-ingressgateway --namespace istio-system --type merge --patch '{"spec":{"externalTrafficPolicy":"Local"}}'`]],
    ['contour', [`kubectl patch service/envoy --namespace contour-external --type merge --patch '{"spec":{"externalTrafficPolicy":"Local"}}'`]],
  ])('ingress INGRESS=%s patches what the client addresses depend on, and nothing else', async (ingress, commands) => {
    const result = await make(['ingress', 'DRY_RUN=1', `INGRESS=${ingress}`]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.lines).toEqual(commands);
  });

  it("deploy INGRESS=istio lets Istio's gateway pods in instead of Kourier's, and patches Istio's gateway Service", async () => {
    const result = await make(['deploy', 'DRY_RUN=1', 'INGRESS=istio'], deployEnv({ ROLLOUT_STATE: (await ownRollout()).ROLLOUT_STATE }));
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.lines).toContain(`kubectl patch service/istio-ingressgateway --namespace istio-system --type merge --patch '{"spec":{"externalTrafficPolicy":"Local"}}'`);
    expect(result.stdout).not.toContain('config-kourier');
    const network = kustomize('.deploy/network');
    expect(network.status).toBe(0);
    expect(network.stdout).toContain('kubernetes.io/metadata.name: istio-system');
    expect(network.stdout).not.toContain('kourier-system');
  });

  it('deploy refuses an INGRESS the network policies know no gateway of, before applying anything', async () => {
    const result = await make(['deploy', 'DRY_RUN=1', 'INGRESS=nginx'], deployEnv({ ROLLOUT_STATE: (await ownRollout()).ROLLOUT_STATE }));
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('INGRESS must be one of kourier, istio, contour');
    expect(result.stdout).not.toContain('kubectl');
  });
});

describe('scripts/deploy/rollout.ts commands', () => {
  const context = { namespace: 'ns', dir: 'out' };

  it('migrate, apply, contract and status commands', () => {
    expect(migrateCommands('0.2.0', context)).toEqual([
      ['kubectl', 'apply', '-k', 'out/migrate'],
      ['kubectl', '--namespace', 'ns', 'wait', '--for=condition=complete', '--timeout=300s', 'job', '-l', 'app.kubernetes.io/name=accounts-migrate,app.kubernetes.io/version=0.2.0'],
    ]);
    expect(applyServiceCommands(specOf('auth-login'), context)).toEqual([['kubectl', 'apply', '--namespace', 'ns', '-f', 'out/services/auth-login.yaml']]);
    expect(contractCommands('0.2.0', context)).toEqual([
      ['kubectl', 'apply', '-k', 'out/contract'],
      ['kubectl', '--namespace', 'ns', 'wait', '--for=condition=complete', '--timeout=300s', 'job', '-l', 'app.kubernetes.io/name=accounts-contract,app.kubernetes.io/version=0.2.0'],
    ]);
    const status = statusCommands('ns');
    expect(status[0]).toEqual(['kn', 'service', 'list', '--namespace', 'ns']);
    expect(status.slice(1).map((command) => command.at(-1))).toEqual(INVENTORY.map((spec) => spec.name));
  });

  it('refuses a NAMESPACE the manifests do not name, run without make too', () => {
    expect(() => checkNamespace('staging')).toThrow(/NAMESPACE=staging: the manifests and kustomizations name the namespace accounts.*scripts\/deploy\/namespace\.ts/);
    expect(() => checkNamespace('accounts')).not.toThrow();
    expect(() => checkNamespace(undefined)).not.toThrow();
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
