import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INVENTORY, specOf, type FunctionSpec } from '../../functions/inventory.js';
import { packageVersion } from '../../scripts/deploy/manifests.js';
import { DEFAULT_IMAGE } from '../../scripts/deploy/namespace.js';
import { SECRETS_VERSION_ANNOTATION, renderService, secretsOf, secretsVersionOf, serviceOptionsOf, templateRevisionName, uniformRollout } from '../../scripts/deploy/services.js';
import { ROLLOUT_STATE_FILE, formatRolloutState, parseRolloutState, readRolloutState, type RolloutState } from '../../scripts/deploy/rollout-state.js';
import { ROOT, make, standInKubectl, type KubeObject, type MakeResult } from './manifest-support.js';
import { loadSchemaSet, validateObject, type SchemaSet } from './schema-validation.js';

/**
 * Rollouts from one source of truth, the rollout state: revision names that follow the template, the
 * traffic each Service gets from the state, and the whole deploy / canary / promote / rollback /
 * contract sequence through the real make targets, on a copy of the state, with a stand-in kubectl
 * first on PATH (nothing talks to a cluster).
 */

const NAMES = INVENTORY.map((spec) => spec.name);
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const usersGet: FunctionSpec = specOf('users-get');

let committedState: string;
let schemas: SchemaSet;
let scratch: string;

beforeAll(async () => {
  committedState = await readFile(ROLLOUT_STATE_FILE, 'utf8');
  schemas = await loadSchemaSet();
  scratch = await mkdtemp(join(tmpdir(), 'accounts-rollouts-'));
});

afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
  expect(await readFile(ROLLOUT_STATE_FILE, 'utf8'), 'no test changes the committed rollout state').toBe(committedState);
});

const serviceObject = (text: string) => parse(text) as KubeObject & { spec: { template: { metadata: { name: string }; spec: { containers: { image: string; env: { name: string; value?: string }[] }[] } }; traffic: unknown[] } };

describe('revision names', () => {
  const inputs = { image: DEFAULT_IMAGE, version: '0.1.0' };

  it('are the same for an unchanged template and new when one env value changes through the generator', () => {
    const name = templateRevisionName(usersGet, inputs);
    expect(name).toMatch(/^users-get-v0-1-0-[0-9a-f]{7}$/);
    expect(templateRevisionName(usersGet, { ...inputs })).toBe(name);
    expect(serviceObject(renderService(usersGet, inputs)).spec.template.metadata.name).toBe(name);

    // auth-login's REQUIRE_VERIFIED_EMAIL is generated as "false": one value changed, one new name.
    const login: FunctionSpec = specOf('auth-login');
    const loginName = templateRevisionName(login, inputs);
    const changed = templateRevisionName(login, { ...inputs, env: { REQUIRE_VERIFIED_EMAIL: 'true' } });
    expect(changed).not.toBe(loginName);
    expect(changed).toMatch(/^auth-login-v0-1-0-[0-9a-f]{7}$/);
    const rendered = serviceObject(renderService(login, { ...inputs, env: { REQUIRE_VERIFIED_EMAIL: 'true' } }));
    expect(rendered.spec.template.metadata.name).toBe(changed);
    expect(rendered.spec.template.spec.containers[0]!.env.filter((entry) => entry.name === 'REQUIRE_VERIFIED_EMAIL')).toEqual([{ name: 'REQUIRE_VERIFIED_EMAIL', value: 'true' }]);
    // Back to the generated value: back to the first name (Knative keeps that revision).
    expect(templateRevisionName(login, { ...inputs, env: { REQUIRE_VERIFIED_EMAIL: 'false' } })).toBe(loginName);
  });

  it.each([
    ['a scaling annotation (minScale)', (spec: FunctionSpec): FunctionSpec => ({ ...spec, minScale: spec.minScale + 1 })],
    ['a scaling annotation (autoscalingTarget)', (spec: FunctionSpec): FunctionSpec => ({ ...spec, autoscalingTarget: spec.autoscalingTarget + 1 })],
    ['the resources (a bcrypt function)', (spec: FunctionSpec): FunctionSpec => ({ ...spec, needs: [...spec.needs, 'passwords'] })],
    ['a Secret reference (a new need)', (spec: FunctionSpec): FunctionSpec => ({ ...spec, needs: [...spec.needs, 'signing'] })],
  ])('are new when the inventory changes %s', (_change, change) => {
    expect(templateRevisionName(change(usersGet), inputs)).not.toBe(templateRevisionName(usersGet, inputs));
  });

  it('are new for another image or version, and ignore what is not in the template (the scaling comment, the traffic)', () => {
    const name = templateRevisionName(usersGet, inputs);
    expect(templateRevisionName(usersGet, { ...inputs, image: 'registry.example.com/accounts' })).not.toBe(name);
    expect(templateRevisionName(usersGet, { ...inputs, version: '0.1.1' })).toMatch(/^users-get-v0-1-1-/);
    expect(templateRevisionName({ ...usersGet, scalingNote: 'another reason' }, inputs)).toBe(name);
    const split = renderService(usersGet, { ...inputs, traffic: [{ revisionName: 'users-get-v0-0-9-abcdef0', percent: 100, tag: 'stable' }] });
    expect(serviceObject(split).spec.template.metadata.name).toBe(name);
  });

  it.each(['0.1.0', '10.20.30', '1.2.3-rc.1+build.20260101', '2026.11.28-nightly.12345+sha.0123456789abcdef'])(
    'are DNS labels of at most 63 characters, prefixed by their Service, distinct for every function (version %s)',
    (version) => {
      const names = INVENTORY.map((spec) => templateRevisionName(spec, { image: DEFAULT_IMAGE, version }));
      INVENTORY.forEach((spec, index) => {
        const name = names[index]!;
        expect(name.length, name).toBeLessThanOrEqual(63);
        expect(name, name).toMatch(DNS_LABEL);
        // Knative wants a revision name to start with its Service's name and a hyphen.
        expect(name.startsWith(`${spec.name}-v`), name).toBe(true);
      });
      expect(new Set(names).size).toBe(names.length);
    },
  );
});

describe('the rollout state', () => {
  it('as committed: every function stable at the package version and the default image, no canary, the revision the committed Service serves', async () => {
    const version = await packageVersion();
    const state = parseRolloutState(committedState, 'knative/rollout.yaml', NAMES);
    expect(Object.keys(state)).toEqual(NAMES);
    const stale: string[] = [];
    for (const spec of INVENTORY) {
      const service = serviceObject(await readFile(join(ROOT, 'knative/services', `${spec.name}.yaml`), 'utf8'));
      const revision = service.spec.template.metadata.name;
      expect(state[spec.name], spec.name).toEqual({ stable: { image: DEFAULT_IMAGE, version, revision: expect.any(String) } });
      if (state[spec.name]?.stable.revision !== revision) stale.push(`${spec.name}: ${state[spec.name]?.stable.revision} recorded, ${revision} served`);
      expect(service.spec.traffic).toEqual([{ revisionName: revision, percent: 100, tag: 'stable' }]);
    }
    // After a change of the templates: `npm run rollout -- deploy`, then `npm run rollout -- record` (it wants a TRUSTED_PROXY_CIDRS, any), records the new names (no cluster involved); commit knative/rollout.yaml.
    expect(stale, 'knative/rollout.yaml records other revisions than the committed Services serve: run `TRUSTED_PROXY_CIDRS=10.0.0.0/8 npm run rollout -- deploy && npm run rollout -- record`').toEqual([]);
    expect(committedState, 'the file is as the rollout commands write it').toBe(formatRolloutState(state, NAMES));
  });

  it('with a canary: the canary template, the rest of the traffic to the stable revision as it was applied', () => {
    const stable = uniformRollout({ image: DEFAULT_IMAGE, version: '1.0.0' })['users-get']!.stable;
    const canaryName = templateRevisionName(usersGet, { image: DEFAULT_IMAGE, version: '2.0.0' });
    const options = serviceOptionsOf(usersGet, { stable, canary: { image: DEFAULT_IMAGE, version: '2.0.0', revision: canaryName, percent: 10 } });
    const service = serviceObject(renderService(usersGet, options));
    expect(service.spec.template.metadata.name).toBe(canaryName);
    expect(service.spec.template.spec.containers[0]!.image).toBe(`${DEFAULT_IMAGE}:2.0.0`);
    expect(service.spec.traffic).toEqual([
      { revisionName: stable.revision, percent: 90, tag: 'stable' },
      { revisionName: canaryName, percent: 10, tag: 'canary' },
    ]);
    expect(validateObject(schemas, service)).toEqual([]);
  });

  it.each([
    ['an unknown function', 'users-gett:\n  stable: {image: x, version: 1.0.0, revision: users-gett-v1-0-0-abcdef0}\n', /no function in the inventory is called users-gett/],
    ['a percent of 100', 'users-get:\n  stable: {image: x, version: 1.0.0, revision: a}\n  canary: {image: x, version: 2.0.0, revision: b, percent: 100}\n', /users-get\.canary\.percent/],
    ['a version "latest"', 'users-get:\n  stable: {image: x, version: latest, revision: a}\n', /users-get\.stable\.version: a version, never "latest"/],
    ['an unknown field', 'users-get:\n  stable: {image: x, version: 1.0.0, revision: a, weight: 3}\n', /users-get\.stable/],
  ])('refuses a state with %s, naming it', (_case, text, message) => {
    expect(() => parseRolloutState(text, 'state.yaml', NAMES)).toThrow(message);
  });
});

describe.concurrent('the rollout sequence through make, a stand-in kubectl taking the commands', { timeout: 600_000 }, () => {
  const secretEnv = {
    POSTGRES_PASSWORD: 'pg-dummy',
    USERS_DB_PASSWORD: 'users-dummy',
    CREDENTIALS_DB_PASSWORD: 'credentials-dummy',
    AUTH_DB_PASSWORD: 'auth-dummy',
    NOTIFY_DB_PASSWORD: 'notify-dummy',
    JWT_PRIVATE_KEY_FILE: 'private-dummy.pem',
    JWT_PUBLIC_KEY_FILE: 'public-dummy.pem',
    SMTP_URL: 'smtps://mailer:smtp-dummy@smtp.example.com:465',
    EVENT_SEAL_KEY: 'c2VhbC1kdW1teS1ReDc5LXNlYWwtZHVtbXktUXg3OS0=',
  };
  const revision = (spec: FunctionSpec, version: string, env?: Record<string, string>) => templateRevisionName(spec, { image: DEFAULT_IMAGE, version, env });

  /** One operator's terminal: its own copy of the rollout state, its own manifests folder, its own (stand-in) cluster. */
  async function terminal(name: string, initial = committedState) {
    const dir = join(scratch, name);
    const statePath = join(dir, 'rollout.yaml');
    const deployDir = join(dir, 'deploy');
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await writeFile(statePath, initial);
    const kubectl = await standInKubectl(dir);
    const env = { ...secretEnv, ...kubectl.env, TRUSTED_PROXY_CIDRS: '10.244.0.0/16', ROLLOUT_STATE: statePath, DEPLOY_DIR: deployDir };
    return {
      statePath,
      deployDir,
      calls: kubectl.calls,
      run: (...args: string[]): Promise<MakeResult> => make(args, env),
      /** The same, the stand-in kubectl failing every call whose arguments contain `failing`. */
      runFailing: (failing: string, ...args: string[]): Promise<MakeResult> => make(args, { ...env, KUBECTL_FAIL: failing }),
      /** The same, `more` added to the environment (the stand-in's SECRET_RV_… answers). */
      runWith: (more: Record<string, string>, ...args: string[]): Promise<MakeResult> => make(args, { ...env, ...more }),
      state: async (): Promise<RolloutState> => (await readRolloutState(statePath, NAMES))!,
      stateText: () => readFile(statePath, 'utf8'),
      service: async (fn: string) => serviceObject(await readFile(join(deployDir, 'services', `${fn}.yaml`), 'utf8')),
    };
  }

  const ok = (result: MakeResult) => {
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    return result.lines;
  };
  const refused = (result: MakeResult, message: string | RegExp) => {
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).not.toMatch(/^(kn|kubectl) /m);
  };

  it(
    'deploy v1 → canary v2 10% → promote → deploy v3 → canary v3 (refused, then with a changed variable) → rollback → deploy v4',
    async () => {
      const t = await terminal('sequence');
      // make deploy gives each revision the hash of its Secrets' resourceVersions, all 1 in the stand-in; a canary keeps its stable's.
      const standInSecretsVersion = (spec: FunctionSpec) => secretsVersionOf(spec, Object.fromEntries(secretsOf(spec).map((name) => [name, '1'])));
      const revision = (spec: FunctionSpec, version: string, env?: Record<string, string>) =>
        templateRevisionName(spec, { image: DEFAULT_IMAGE, version, env, secretsVersion: standInSecretsVersion(spec) });
      const wrote = (version: string) => expect.stringMatching(new RegExp(`^wrote \\d+ manifests for ${DEFAULT_IMAGE.replace(/\./g, '\\.')}:${version.replace(/\./g, '\\.')} into ${t.deployDir}$`));
      const migrate = (version: string) => [
        `kubectl apply -k ${t.deployDir}/migrate`,
        `kubectl --namespace accounts wait --for=condition=complete --timeout=300s job -l app.kubernetes.io/name=accounts-migrate,app.kubernetes.io/version=${version}`,
      ];
      const applyUsersGet = `kubectl apply --namespace accounts -f ${t.deployDir}/services/users-get.yaml`;
      const waitUsersGet = 'kubectl wait --for=condition=Ready --timeout=300s ksvc/users-get --namespace accounts';
      // After a rollback, the routes only: the canary, still the latest revision, may be the reason to roll back.
      const routesUsersGet = 'kubectl wait --for=condition=RoutesReady --timeout=300s ksvc/users-get --namespace accounts';
      const patchUsersGet = (traffic: unknown[]) => `kubectl patch ksvc users-get --namespace accounts --type=merge -p '${JSON.stringify({ spec: { traffic } })}'`;
      const expectService = async (fn: string, template: string, traffic: unknown[]) => {
        const service = await t.service(fn);
        expect(service.spec.template.metadata.name, `${fn} template`).toBe(template);
        expect(service.spec.traffic, `${fn} traffic`).toEqual(traffic);
        expect(validateObject(schemas, service)).toEqual([]);
        return service;
      };
      const expectEveryFunction = async (version: string) => {
        for (const spec of INVENTORY) {
          await expectService(spec.name, revision(spec, version), [{ revisionName: revision(spec, version), percent: 100, tag: 'stable' }]);
        }
      };

      // deploy v1: every function's v1 revision takes all its traffic; the expand migrations before the Services,
      // the state recorded once every Service is Ready.
      let lines = ok(await t.run('deploy', 'VERSION=1.0.0'));
      expect(lines[0]).toEqual(wrote('1.0.0'));
      // make -s prints none of its own commands: what they ran is in the stand-in's log.
      const calls = (await t.calls()).map((call) => `kubectl ${call}`);
      const waitServices = 'kubectl wait --for=condition=Ready --timeout=300s ksvc -l app.kubernetes.io/part-of=knative-accounts --namespace accounts';
      const order = [...migrate('1.0.0'), `kubectl apply -k ${t.deployDir}/services`, waitServices].map((line) => calls.indexOf(line));
      expect(order.every((index) => index > 0), calls.join('\n')).toBe(true);
      expect([...order].sort((a, b) => a - b)).toEqual(order);
      expect(calls.at(-1)).toBe(waitServices);
      expect(lines.at(-1)).toBe(`${t.statePath}: every function stable at 1.0.0, 100%, no canary`);
      await expectEveryFunction('1.0.0');

      // canary v2 10% on users-get: v2's expand migrations complete, then the traffic split is applied.
      lines = ok(await t.run('canary', 'FN=users-get', 'PERCENT=10', 'VERSION=2.0.0'));
      const v1 = revision(usersGet, '1.0.0');
      const v2 = revision(usersGet, '2.0.0');
      expect(lines).toEqual([wrote('2.0.0'), ...migrate('2.0.0'), applyUsersGet, waitUsersGet, `${t.statePath}: users-get: ${v1} 90% (stable), ${v2} 10% (canary)`]);
      await expectService('users-get', v2, [
        { revisionName: v1, percent: 90, tag: 'stable' },
        { revisionName: v2, percent: 10, tag: 'canary' },
      ]);
      expect(parse(await readFile(join(t.deployDir, 'migrate/job.yaml'), 'utf8'))).toMatchObject({ metadata: { name: 'accounts-migrate-v2-0-0', labels: { 'app.kubernetes.io/version': '2.0.0' } } });
      const usersList = specOf('users-list');
      await expectService('users-list', revision(usersList, '1.0.0'), [{ revisionName: revision(usersList, '1.0.0'), percent: 100, tag: 'stable' }]);

      // While it is in flight: no second canary, no full rollout of another version, no contract migrations.
      const inFlight = await t.stateText();
      refused(await t.run('canary', 'FN=users-get', 'PERCENT=20', 'VERSION=2.0.1'), `users-get already has a canary in flight (${v2}, 10%): make promote FN=users-get or make rollback FN=users-get first`);
      refused(await t.run('deploy', 'VERSION=3.0.0'), 'a canary is in flight for users-get (2.0.0): make promote or make rollback FN=… first, or deploy its version');
      refused(await t.run('contract'), 'contract migrations wait until every function is promoted: a canary is in flight for users-get (2.0.0)');
      expect(await t.stateText()).toBe(inFlight);

      // promote: a traffic move, no new template: the canary takes all the traffic under the same name; the canary tag is gone.
      lines = ok(await t.run('promote', 'FN=users-get'));
      expect(lines).toEqual([patchUsersGet([{ revisionName: v2, percent: 100, tag: 'stable' }]), waitUsersGet, `${t.statePath}: users-get: ${v2} 100% (stable)`]);
      expect((await t.state())['users-get']).toEqual({ stable: { image: DEFAULT_IMAGE, version: '2.0.0', secretsVersion: standInSecretsVersion(usersGet), revision: v2 } });
      refused(await t.run('contract'), 'contract migrations wait until every function runs one version: users-get runs 2.0.0; the 19 others run 1.0.0');

      // deploy v3: every function's v3 revision takes all the traffic (users-get's too: no pin left behind); now contract may run.
      lines = ok(await t.run('deploy', 'VERSION=3.0.0'));
      expect(lines.at(-1)).toBe(`${t.statePath}: every function stable at 3.0.0, 100%, no canary`);
      await expectEveryFunction('3.0.0');
      lines = ok(await t.run('contract'));
      expect(lines).toEqual([
        `wrote the contract Job accounts-contract-v3-0-0 for ${DEFAULT_IMAGE}:3.0.0 into ${t.deployDir}/contract`,
        `kubectl apply -k ${t.deployDir}/contract`,
        `kubectl --namespace accounts wait --for=condition=complete --timeout=300s job -l app.kubernetes.io/name=accounts-contract,app.kubernetes.io/version=3.0.0`,
      ]);
      const contractJob = parse(await readFile(join(t.deployDir, 'contract/job.yaml'), 'utf8')) as KubeObject & { spec: any };
      expect(validateObject(schemas, contractJob)).toEqual([]);
      expect(contractJob.spec.template.spec.containers.map((container: any) => [container.image, container.args])).toEqual([[`${DEFAULT_IMAGE}:3.0.0`, ['dist/migrate.js', 'contract']]]);

      // canary v3 on users-get: the very template that serves, refused.
      const v3 = revision(usersGet, '3.0.0');
      const deployed = await t.stateText();
      refused(await t.run('canary', 'FN=users-get', 'PERCENT=10', 'VERSION=3.0.0'), `${v3} already serves users-get: the canary's template is the stable one's`);
      expect(await t.stateText()).toBe(deployed);

      // canary v3 with one variable changed: a new template, so a new revision, 20% of the traffic.
      lines = ok(await t.run('canary', 'FN=users-get', 'PERCENT=20', 'VERSION=3.0.0', 'SET_ENV=LOG_LEVEL=debug'));
      const v3debug = revision(usersGet, '3.0.0', { LOG_LEVEL: 'debug' });
      expect(v3debug).not.toBe(v3);
      expect(lines).toEqual([wrote('3.0.0'), ...migrate('3.0.0'), applyUsersGet, waitUsersGet, `${t.statePath}: users-get: ${v3} 80% (stable), ${v3debug} 20% (canary)`]);
      const canaryService = await expectService('users-get', v3debug, [
        { revisionName: v3, percent: 80, tag: 'stable' },
        { revisionName: v3debug, percent: 20, tag: 'canary' },
      ]);
      expect(canaryService.spec.template.spec.containers[0]!.env).toContainEqual({ name: 'LOG_LEVEL', value: 'debug' });
      refused(await t.run('contract'), 'a canary is in flight for users-get (3.0.0)');

      // rollback: all the traffic back to the recorded stable revision, by a patch of the traffic alone.
      lines = ok(await t.run('rollback', 'FN=users-get'));
      expect(lines).toEqual([patchUsersGet([{ revisionName: v3, percent: 100, tag: 'stable' }]), routesUsersGet, `${t.statePath}: users-get: ${v3} 100% (stable)`]);
      expect((await t.state())['users-get']).toEqual({ stable: { image: DEFAULT_IMAGE, version: '3.0.0', secretsVersion: standInSecretsVersion(usersGet), revision: v3 } });
      // Again, with no canary recorded: the same traffic move, said so.
      lines = ok(await t.run('rollback', 'FN=users-get'));
      expect(lines[0]).toMatch(/^users-get has no canary recorded: all the traffic to the recorded stable revision all the same/);
      expect(lines[1]).toBe(patchUsersGet([{ revisionName: v3, percent: 100, tag: 'stable' }]));

      // deploy v4: the new revision takes all the traffic, never a silent 0% after a rollback.
      ok(await t.run('deploy', 'VERSION=4.0.0'));
      await expectEveryFunction('4.0.0');
      const final = await t.state();
      for (const spec of INVENTORY) {
        const secretsVersion = standInSecretsVersion(spec);
        expect(final[spec.name], spec.name).toEqual({ stable: { image: DEFAULT_IMAGE, version: '4.0.0', ...(secretsVersion ? { secretsVersion } : {}), revision: revision(spec, '4.0.0') } });
      }
    },
  );

  it('contract: refused while a canary is in flight, run once it is promoted and every function runs one version', async () => {
    const t = await terminal('contract', formatRolloutState(uniformRollout({ image: DEFAULT_IMAGE, version: '5.0.0' }), NAMES));
    ok(await t.run('canary', 'FN=auth-login', 'PERCENT=5', 'VERSION=5.0.0', 'SET_ENV=REQUIRE_VERIFIED_EMAIL=true'));
    refused(await t.run('contract'), 'contract migrations wait until every function is promoted: a canary is in flight for auth-login (5.0.0)');
    ok(await t.run('promote', 'FN=auth-login'));
    const promoted = revision(specOf('auth-login'), '5.0.0', { REQUIRE_VERIFIED_EMAIL: 'true' });
    expect((await t.state())['auth-login']).toEqual({ stable: { image: DEFAULT_IMAGE, version: '5.0.0', env: { REQUIRE_VERIFIED_EMAIL: 'true' }, revision: promoted } });
    expect(ok(await t.run('contract')).slice(1)).toEqual([
      `kubectl apply -k ${t.deployDir}/contract`,
      'kubectl --namespace accounts wait --for=condition=complete --timeout=300s job -l app.kubernetes.io/name=accounts-contract,app.kubernetes.io/version=5.0.0',
    ]);
    // A later full rollout keeps the promoted variable.
    ok(await t.run('deploy', 'VERSION=5.0.1'));
    expect((await t.state())['auth-login']?.stable.env).toEqual({ REQUIRE_VERIFIED_EMAIL: 'true' });
    expect((await t.service('auth-login')).spec.template.spec.containers[0]!.env).toContainEqual({ name: 'REQUIRE_VERIFIED_EMAIL', value: 'true' });
  });

  /** A state after `make canary FN=users-get PERCENT=10 VERSION=2.0.0`, with both names rewritten to ones this working tree's template does not render (the sources changed since they were applied). */
  async function driftedCanary(name: string) {
    const t = await terminal(name, formatRolloutState(uniformRollout({ image: DEFAULT_IMAGE, version: '1.0.0' }), NAMES));
    ok(await t.run('canary', 'FN=users-get', 'PERCENT=10', 'VERSION=2.0.0'));
    const stable = 'users-get-v1-0-0-0000000';
    const canary = 'users-get-v2-0-0-0000000';
    await writeFile(t.statePath, (await t.stateText()).replace(revision(usersGet, '1.0.0'), stable).replace(revision(usersGet, '2.0.0'), canary));
    expect((await t.state())['users-get']).toMatchObject({ stable: { revision: stable }, canary: { revision: canary, percent: 10 } });
    return { t, stable, canary, callsBefore: (await t.calls()).length };
  }

  it.each([
    ['rollback', 'stable', (names: { stable: string; canary: string }) => names.stable, '1.0.0'],
    ['promote', 'canary', (names: { stable: string; canary: string }) => names.canary, '2.0.0'],
  ] as const)('%s after the template changed: the traffic to exactly the recorded %s revision, a note of what differs, no apply', async (target, role, expected, version) => {
    const drifted = await driftedCanary(`drift-${target}`);
    const { t } = drifted;
    const result = await t.run(target, 'FN=users-get');
    const lines = ok(result);
    const name = expected(drifted);
    const rendered = revision(usersGet, version);
    expect(lines[0]).toBe(
      `note: users-get's ${role} revision was applied as ${name}, but this working tree's template renders ${rendered} (the sources or the inventory changed since). ` +
        `The traffic moves to ${name}, which exists and was tested; the Service's template in the cluster stays as it is. ` +
        'The next make canary or make deploy creates a new revision from the changed template.',
    );
    const calls = (await t.calls()).slice(drifted.callsBefore);
    expect(calls).toEqual([
      `patch ksvc users-get --namespace accounts --type=merge -p {"spec":{"traffic":[{"revisionName":"${name}","percent":100,"tag":"stable"}]}}`,
      `wait --for=condition=${target === 'promote' ? 'Ready' : 'RoutesReady'} --timeout=300s ksvc/users-get --namespace accounts`,
    ]);
    expect(calls.join('\n')).not.toContain(rendered);
    expect((await t.state())['users-get']).toEqual({ stable: { image: DEFAULT_IMAGE, version, revision: name } });
  });

  it.each([
    ['the Service apply fails', 'apply --namespace accounts -f'],
    ['the Service never gets Ready', 'wait --for=condition=Ready'],
  ])('canary: when %s, the state is unchanged and the make run fails', async (_case, failing) => {
    const t = await terminal(`canary-fails-${failing.split(' ')[0]}`);
    const result = await t.runFailing(failing, 'canary', 'FN=users-get', 'PERCENT=10', 'VERSION=2.0.0');
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('kubectl (stand-in): failing as told');
    expect(await t.stateText()).toBe(committedState);
    expect(result.stdout).not.toContain(t.statePath);
    // The runbook: make rollback moves the traffic the failed canary's apply split back to the recorded stable revision.
    const stable = parseRolloutState(committedState, 'committed', NAMES)['users-get']!.stable.revision;
    const lines = ok(await t.run('rollback', 'FN=users-get'));
    expect(lines).toContain(`kubectl patch ksvc users-get --namespace accounts --type=merge -p '${JSON.stringify({ spec: { traffic: [{ revisionName: stable, percent: 100, tag: 'stable' }] } })}'`);
    expect(await t.stateText()).toBe(committedState);
  });

  it.each([
    ['the Services apply fails', 'apply -k'],
    ['a Service never gets Ready', 'wait --for=condition=Ready --timeout=300s ksvc'],
  ])('deploy: when %s, the state is unchanged and the make run fails', async (_case, failing) => {
    const t = await terminal(`deploy-fails-${failing.split(' ')[0]}`);
    // `apply -k` of the services only: the earlier kustomizations go through.
    const result = await t.runFailing(failing === 'apply -k' ? `apply -k ${t.deployDir}/services` : failing, 'deploy', 'VERSION=2.0.0');
    expect(result.status).not.toBe(0);
    expect((await t.calls()).some((call) => call.startsWith(`apply -k ${t.deployDir}/services`))).toBe(true);
    expect(await t.stateText()).toBe(committedState);
    expect(result.stdout).not.toContain(`${t.statePath}:`);
  });

  it.each(['promote', 'rollback'])('%s: when the Service never gets Ready after the traffic patch, the canary stays recorded', async (target) => {
    const t = await terminal(`${target}-fails`, formatRolloutState(uniformRollout({ image: DEFAULT_IMAGE, version: '1.0.0' }), NAMES));
    ok(await t.run('canary', 'FN=users-get', 'PERCENT=10', 'VERSION=2.0.0'));
    const inFlight = await t.stateText();
    const result = await t.runFailing('wait --for=condition=', target, 'FN=users-get');
    expect(result.status).not.toBe(0);
    expect((await t.calls()).at(-2)).toMatch(/^patch ksvc users-get /);
    expect(await t.stateText()).toBe(inFlight);
  });

  it('DRY_RUN=1 writes nothing: deploy, canary, promote, rollback and contract against the committed state leave the working tree as it was', async () => {
    const porcelain = () => {
      const status = spawnSync('git', ['status', '--porcelain', '--untracked-files=all'], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
      expect(status.status).toBe(0);
      return status.stdout;
    };
    const before = porcelain();
    const deployDir = join(scratch, 'dry-run-deploy');
    const env = { ...secretEnv, TRUSTED_PROXY_CIDRS: '10.244.0.0/16', DEPLOY_DIR: deployDir };
    const dry = (...args: string[]) => make([...args, 'DRY_RUN=1'], env);
    const deployed = ok(await dry('deploy', 'VERSION=2.0.0'));
    expect(deployed.at(-1)).toBe('knative/rollout.yaml (not written, DRY_RUN=1): every function stable at 2.0.0, 100%, no canary');
    const canary = ok(await dry('canary', 'FN=users-get', 'PERCENT=10', 'VERSION=2.0.0'));
    expect(canary.at(-1)).toMatch(/^knative\/rollout\.yaml \(not written, DRY_RUN=1\): users-get: .* 90% \(stable\), .* 10% \(canary\)$/);
    // The canary was not recorded, so there is none to promote or roll back.
    refused(await dry('promote', 'FN=users-get'), 'users-get has no canary in flight');
    expect(ok(await dry('rollback', 'FN=users-get')).at(-1)).toMatch(/^knative\/rollout\.yaml \(not written, DRY_RUN=1\): users-get: users-get-v0-1-0-[0-9a-f]{7} 100% \(stable\)$/);
    ok(await dry('contract'));
    expect(porcelain()).toBe(before);
    expect(await readFile(ROLLOUT_STATE_FILE, 'utf8')).toBe(committedState);
  });

  it.each(['promote', 'rollback'])('DRY_RUN=1 %s of a state with a canary prints the traffic patch and leaves the state as it was', async (target) => {
    const t = await terminal(`dry-${target}`, formatRolloutState(uniformRollout({ image: DEFAULT_IMAGE, version: '1.0.0' }), NAMES));
    ok(await t.run('canary', 'FN=users-get', 'PERCENT=10', 'VERSION=2.0.0'));
    const inFlight = await t.stateText();
    const callsBefore = (await t.calls()).length;
    const lines = ok(await t.run(target, 'FN=users-get', 'DRY_RUN=1'));
    expect(lines[0]).toMatch(/^kubectl patch ksvc users-get --namespace accounts --type=merge -p /);
    expect(lines.at(-1)).toContain(`${t.statePath} (not written, DRY_RUN=1): users-get: `);
    expect(await t.stateText()).toBe(inFlight);
    expect((await t.calls()).length, 'no kubectl call').toBe(callsBefore);
  });

  it('a rotated Secret: make secrets then make deploy of the same VERSION gives new revisions to exactly the functions that reference it', async () => {
    const t = await terminal('rotation');
    ok(await t.run('deploy', 'VERSION=1.0.0'));
    const before = await t.state();
    const smtpUsers = INVENTORY.filter((spec) => secretsOf(spec).includes('accounts-smtp')).map((spec) => spec.name);
    expect(smtpUsers.length).toBeGreaterThan(0);
    expect(smtpUsers.length).toBeLessThan(NAMES.length);
    const calls = await t.calls();
    const firstRead = calls.indexOf("get secret accounts-smtp --namespace accounts -o jsonpath={.metadata.resourceVersion}");
    expect(firstRead, 'read after the Secret is applied').toBeGreaterThan(calls.findIndex((call) => call.startsWith('create secret generic accounts-smtp ')));
    expect(firstRead, 'read before the Services are applied').toBeLessThan(calls.indexOf(`apply -k ${t.deployDir}/services`));
    const service = await t.service(smtpUsers[0]!);
    expect((service.spec.template.metadata as { annotations?: Record<string, string> }).annotations?.[SECRETS_VERSION_ANNOTATION]).toBe(before[smtpUsers[0]!]!.stable.secretsVersion);

    // The Secret is rotated: the cluster gives it a new resourceVersion.
    ok(await t.runWith({ SECRET_RV_ACCOUNTS_SMTP: '8123' }, 'deploy', 'VERSION=1.0.0'));
    const after = await t.state();
    const changed = NAMES.filter((name) => after[name]!.stable.revision !== before[name]!.stable.revision);
    expect(changed).toEqual(smtpUsers);
    for (const name of NAMES) expect(after[name]!.stable.version).toBe('1.0.0');
  });

  it('RECORD_ONLY=1 (GitOps): rollout.ts records a canary and runs no cluster command', async () => {
    const t = await terminal('record-only');
    const kubectlDir = join(scratch, 'record-only');
    const result = spawnSync('npx', ['tsx', 'scripts/deploy/rollout.ts', 'canary', 'users-get', '10'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 170_000,
      env: { ...process.env, PATH: `${join(kubectlDir, 'bin')}:${process.env['PATH'] ?? ''}`, KUBECTL_LOG: join(kubectlDir, 'kubectl.log'), RECORD_ONLY: '1', VERSION: '2.0.0', ROLLOUT_STATE: t.statePath, DEPLOY_DIR: t.deployDir, NAMESPACE: '', DRY_RUN: '' },
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`${t.statePath}: users-get: ${revision(usersGet, '0.1.0')} 90% (stable), ${revision(usersGet, '2.0.0')} 10% (canary)`);
    expect((await t.state())['users-get']?.canary).toEqual({ image: DEFAULT_IMAGE, version: '2.0.0', revision: revision(usersGet, '2.0.0'), percent: 10 });
    expect(await t.calls()).toEqual([]);
  });
});
