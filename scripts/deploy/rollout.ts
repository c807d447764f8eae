import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { INVENTORY, type FunctionSpec } from '../../functions/inventory.js';
import { renderContractJob } from './jobs.js';
import { kustomizationText, packageVersion, writeManifests } from './manifests.js';
import { DEFAULT_IMAGE, NAMESPACE, PART_OF, versionSlug } from './namespace.js';
import { DEFAULT_INGRESS, INGRESSES, isIngressName } from './network-policies.js';
import { secretsOf, secretsVersionOf, templateRevisionName, type TrafficTarget, uniformRollout } from './services.js';
import { ingressSettingCommands, renderClientAddresses } from './client-addresses.js';
import { resolvePostgresBackend } from './postgres-backend.js';
import {
  ENV_NAME,
  ROLLOUT_STATE_FILE,
  readPostgresBackend,
  readRolloutState,
  sortedEnv,
  writeRolloutState,
  type FunctionRollout,
  type RevisionInputs,
  type RevisionRecord,
  type RolloutState,
} from './rollout-state.js';

/**
 * Rollouts from one declarative source, the rollout state (knative/rollout.yaml, or ROLLOUT_STATE):
 *   deploy              plans a full rollout: every function's stable revision becomes VERSION's, all the
 *                       traffic, no canary; writes the manifests and the planned state (rollout-planned.yaml)
 *                       into DEPLOY_DIR (make deploy applies them, waits for every Service, then runs record)
 *   secrets-version     reads the resourceVersion of every Secret the functions reference (after make secrets)
 *                       and gives each planned revision the hash of its own Secrets': a rotated Secret, a new revision
 *   record              writes DEPLOY_DIR's planned state into the rollout state
 *   canary FN PERCENT   VERSION's expand migrations (the migration Job), then PERCENT% of FN's traffic
 *                       to VERSION's revision, tag canary; SET_ENV="NAME=value …" changes variables
 *   promote FN          the canary becomes the stable revision, all the traffic
 *   rollback FN         the canary goes, the stable revision takes all the traffic again
 *   contract            the contract migrations, once every function runs one version and no canary is in flight
 *   status              every service's revisions and traffic, as the cluster has them (kn)
 *   ingress             patches INGRESS's settings the client addresses depend on (scripts/deploy/client-addresses.ts)
 * deploy also writes the ConfigMap of TRUSTED_PROXY_CIDRS (required) into DEPLOY_DIR/client-addresses.
 * canary applies FN's regenerated Service; promote and rollback only move the traffic between the
 * revisions the state names (`kubectl patch`), never re-rendering the template. The state is written
 * only once the Service is Ready. Every cluster command is printed before it runs; DRY_RUN=1 prints
 * them, runs none and writes nothing but DEPLOY_DIR; RECORD_ONLY=1 runs none and writes the state (GitOps,
 * where a sync applies what the state says). IMAGE left empty keeps the image each function runs.
 */

export type Command = readonly string[];

export interface ClusterContext {
  readonly namespace: string;
  /** Where the manifests are generated (DEPLOY_DIR). */
  readonly dir: string;
}

export interface Release {
  /** Empty: the image each function runs now. */
  readonly image?: string;
  readonly version: string;
}

const names = (inventory: readonly FunctionSpec[]) => inventory.map((spec) => spec.name);

function recordOf(spec: FunctionSpec, inputs: RevisionInputs): RevisionRecord {
  const env = sortedEnv(inputs.env);
  return {
    image: inputs.image,
    version: inputs.version,
    ...(Object.keys(env).length > 0 ? { env } : {}),
    ...(inputs.secretsVersion ? { secretsVersion: inputs.secretsVersion } : {}),
    revision: templateRevisionName(spec, inputs),
  };
}

function checkVersion(version: string): void {
  if (!version) throw new Error('VERSION must be a version');
  if (version === 'latest') throw new Error('VERSION must be a version, never "latest"');
}

/** `make deploy VERSION=…`: a full rollout. Refused while a canary of another version is in flight. */
export function planDeploy(state: RolloutState, release: Release, inventory: readonly FunctionSpec[] = INVENTORY): RolloutState {
  checkVersion(release.version);
  const inFlight = inventory.filter((spec) => {
    const canary = state[spec.name]?.canary;
    return canary !== undefined && canary.version !== release.version;
  });
  if (inFlight.length > 0) {
    const listed = inFlight.map((spec) => `${spec.name} (${state[spec.name]!.canary!.version})`).join(', ');
    throw new Error(`a canary is in flight for ${listed}: make promote or make rollback FN=… first, or deploy its version`);
  }
  return Object.fromEntries(
    inventory.map((spec) => {
      const current = state[spec.name];
      // A canary of this very version is part of the rollout: it keeps its variables.
      const base = current?.canary ?? current?.stable;
      return [spec.name, { stable: recordOf(spec, { image: release.image || base?.image || DEFAULT_IMAGE, version: release.version, env: base?.env, secretsVersion: base?.secretsVersion }) }];
    }),
  );
}

/** A planned full rollout with each function's secretsVersion from the Secrets' resourceVersions (its revision name follows). */
export function withSecretsVersions(state: RolloutState, resourceVersions: Readonly<Record<string, string>>, inventory: readonly FunctionSpec[] = INVENTORY): RolloutState {
  return Object.fromEntries(
    inventory.flatMap((spec) => {
      const rollout = state[spec.name];
      if (!rollout) return [];
      return [[spec.name, { ...rollout, stable: recordOf(spec, { ...rollout.stable, secretsVersion: secretsVersionOf(spec, resourceVersions) }) }]];
    }),
  );
}

/** Variables of the stable revision, changed by SET_ENV ("NAME=" drops one). */
function mergeEnv(base: Readonly<Record<string, string>> | undefined, changes: Readonly<Record<string, string>>): Record<string, string> {
  const merged: Record<string, string> = { ...base };
  for (const [name, value] of Object.entries(changes)) {
    if (value === '') delete merged[name];
    else merged[name] = value;
  }
  return merged;
}

/** Parses SET_ENV: `NAME=value` pairs separated by spaces. */
export function parseSetEnv(text: string): Record<string, string> {
  const changes: Record<string, string> = {};
  for (const pair of text.split(/\s+/).filter(Boolean)) {
    const at = pair.indexOf('=');
    const name = pair.slice(0, Math.max(at, 0));
    if (at < 1 || !ENV_NAME.test(name)) throw new Error(`SET_ENV takes NAME=value pairs separated by spaces, not ${JSON.stringify(pair)}`);
    changes[name] = pair.slice(at + 1);
  }
  return changes;
}

/** `make canary FN=… PERCENT=… VERSION=…`: refused while FN has a canary, and when the canary would be the stable revision itself. */
export function planCanary(state: RolloutState, spec: FunctionSpec, percent: number, release: Release & { readonly env?: Readonly<Record<string, string>> }): RolloutState {
  if (!Number.isInteger(percent) || percent < 1 || percent > 99) throw new Error('PERCENT must be a whole number from 1 to 99');
  checkVersion(release.version);
  const current = state[spec.name];
  if (!current) throw new Error(`${spec.name} has no stable revision in the rollout state: make deploy first`);
  if (current.canary) {
    throw new Error(`${spec.name} already has a canary in flight (${current.canary.revision}, ${current.canary.percent}%): make promote FN=${spec.name} or make rollback FN=${spec.name} first`);
  }
  const canary = recordOf(spec, {
    image: release.image || current.stable.image,
    version: release.version,
    env: mergeEnv(current.stable.env, release.env ?? {}),
    secretsVersion: current.stable.secretsVersion,
  });
  if (canary.revision === current.stable.revision) {
    throw new Error(`${canary.revision} already serves ${spec.name}: the canary's template is the stable one's; bump VERSION (or change a variable with SET_ENV) for a canary`);
  }
  return { ...state, [spec.name]: { stable: current.stable, canary: { ...canary, percent } } };
}

/** `make promote FN=…`: the canary, under the name it was applied with, takes all the traffic as the new stable revision. */
export function planPromote(state: RolloutState, spec: FunctionSpec): RolloutState {
  const canary = state[spec.name]?.canary;
  if (!canary) throw new Error(`${spec.name} has no canary in flight: nothing to promote (make canary first)`);
  const { image, version, env, secretsVersion, revision } = canary;
  return { ...state, [spec.name]: { stable: { image, version, ...(env ? { env } : {}), ...(secretsVersion ? { secretsVersion } : {}), revision } } };
}

/**
 * `make rollback FN=…`: the canary goes; the recorded stable revision takes all the traffic again.
 * Without a recorded canary too: a canary that never got Ready was applied but not recorded.
 */
export function planRollback(state: RolloutState, spec: FunctionSpec): RolloutState {
  const current = state[spec.name];
  if (!current) throw new Error(`${spec.name} has no stable revision in the rollout state: nothing to roll back to`);
  return { ...state, [spec.name]: { stable: current.stable } };
}

/**
 * Why the working tree's template no longer gives the recorded revision, or undefined when it does.
 * A traffic move still goes to the recorded name: that revision exists and was tested; the changed
 * template is for the next canary or deploy.
 */
export function templateDrift(spec: FunctionSpec, record: RevisionRecord, role: 'stable' | 'canary'): string | undefined {
  const rendered = templateRevisionName(spec, record);
  if (rendered === record.revision) return undefined;
  return (
    `note: ${spec.name}'s ${role} revision was applied as ${record.revision}, but this working tree's template renders ${rendered} ` +
    `(the sources or the inventory changed since). The traffic moves to ${record.revision}, which exists and was tested; ` +
    `the Service's template in the cluster stays as it is. The next make canary or make deploy creates a new revision from the changed template.`
  );
}

/** Who takes a function's traffic, by the names the state recorded. */
export function recordedTraffic(rollout: FunctionRollout): TrafficTarget[] {
  if (!rollout.canary) return [{ revisionName: rollout.stable.revision, percent: 100, tag: 'stable' }];
  return [
    { revisionName: rollout.stable.revision, percent: 100 - rollout.canary.percent, tag: 'stable' },
    { revisionName: rollout.canary.revision, percent: rollout.canary.percent, tag: 'canary' },
  ];
}

/** The one image the given functions' stable revisions run, or IMAGE when given. */
function commonImage(state: RolloutState, given: string | undefined, inventory: readonly FunctionSpec[]): string {
  if (given) return given;
  const images = [...new Set(inventory.map((spec) => state[spec.name]?.stable.image ?? DEFAULT_IMAGE))];
  if (images.length > 1) throw new Error(`the functions run different images (${images.join(', ')}): say which with IMAGE`);
  return images[0] ?? DEFAULT_IMAGE;
}

/**
 * `make contract`: the release whose contract migrations may run: only once no canary is in flight
 * and every function's stable revision runs the same version (no older revision needs what they drop).
 */
export function planContract(state: RolloutState, image: string | undefined, inventory: readonly FunctionSpec[] = INVENTORY): Required<Release> {
  const canaries = inventory.filter((spec) => state[spec.name]?.canary);
  if (canaries.length > 0) {
    const listed = canaries.map((spec) => `${spec.name} (${state[spec.name]!.canary!.version})`).join(', ');
    throw new Error(`contract migrations wait until every function is promoted: a canary is in flight for ${listed}`);
  }
  const byVersion = new Map<string, string[]>();
  for (const spec of inventory) {
    const version = state[spec.name]?.stable.version ?? '(none)';
    byVersion.set(version, [...(byVersion.get(version) ?? []), spec.name]);
  }
  if (byVersion.size > 1) {
    const groups = [...byVersion.entries()].sort((a, b) => b[1].length - a[1].length);
    const listed = groups.map(([version, functions], index) => (index === 0 && functions.length > 3 ? `the ${functions.length} others run ${version}` : `${functions.join(', ')} ${functions.length === 1 ? 'runs' : 'run'} ${version}`));
    throw new Error(`contract migrations wait until every function runs one version: ${listed.reverse().join('; ')}`);
  }
  return { image: commonImage(state, image, inventory), version: [...byVersion.keys()][0]! };
}

const describeTarget = (target: TrafficTarget) => `${target.revisionName} ${target.percent}% (${target.tag})`;

/** One line: where a function's traffic goes under this rollout state. */
export function describeTraffic(spec: FunctionSpec, rollout: FunctionRollout): string {
  return `${spec.name}: ${recordedTraffic(rollout).map(describeTarget).join(', ')}`;
}

export function migrateCommands(version: string, context: ClusterContext): Command[] {
  return [
    ['kubectl', 'apply', '-k', join(context.dir, 'migrate')],
    ['kubectl', '--namespace', context.namespace, 'wait', '--for=condition=complete', '--timeout=300s', 'job', '-l', `app.kubernetes.io/name=accounts-migrate,app.kubernetes.io/version=${version}`],
  ];
}

export function applyServiceCommands(spec: FunctionSpec, context: ClusterContext): Command[] {
  return [['kubectl', 'apply', '--namespace', context.namespace, '-f', join(context.dir, 'services', `${spec.name}.yaml`)]];
}

/** Moves FN's traffic to the revisions the state names; the Service's template is left as it is. */
export function trafficPatchCommands(spec: FunctionSpec, rollout: FunctionRollout, context: ClusterContext): Command[] {
  const patch = { spec: { traffic: recordedTraffic(rollout).map(({ revisionName, percent, tag }) => ({ revisionName, percent, tag })) } };
  return [['kubectl', 'patch', 'ksvc', spec.name, '--namespace', context.namespace, '--type=merge', '-p', JSON.stringify(patch)]];
}

/**
 * Waits for FN's Service to be Ready, or after a rollback for its routes only: a Service is Ready
 * only when its latest revision is, and a rolled-back canary that never got Ready stays the latest.
 */
export function waitReadyCommands(spec: FunctionSpec, context: ClusterContext, condition: 'Ready' | 'RoutesReady' = 'Ready'): Command[] {
  return [['kubectl', 'wait', `--for=condition=${condition}`, '--timeout=300s', `ksvc/${spec.name}`, '--namespace', context.namespace]];
}

export function contractCommands(version: string, context: ClusterContext): Command[] {
  return [
    ['kubectl', 'apply', '-k', join(context.dir, 'contract')],
    ['kubectl', '--namespace', context.namespace, 'wait', '--for=condition=complete', '--timeout=300s', 'job', '-l', `app.kubernetes.io/name=accounts-contract,app.kubernetes.io/version=${version}`],
  ];
}

/** Reads a Secret's resourceVersion: it changes with every update of the Secret and says nothing of its content. */
export function secretVersionCommand(name: string, context: ClusterContext): Command {
  return ['kubectl', 'get', 'secret', name, '--namespace', context.namespace, '-o', 'jsonpath={.metadata.resourceVersion}'];
}

export function statusCommands(namespace: string): Command[] {
  return [
    ['kn', 'service', 'list', '--namespace', namespace],
    ...INVENTORY.map((spec) => ['kn', 'revision', 'list', '--namespace', namespace, '--service', spec.name]),
  ];
}

/** Shell-quotes for printing, so a printed command can be pasted as is. */
export function formatCommand(command: Command): string {
  return command.map((part) => (/^[\w@%+=:,./-]+$/.test(part) ? part : `'${part.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function run(commands: readonly Command[], dryRun: boolean): void {
  for (const command of commands) {
    process.stdout.write(`${formatCommand(command)}\n`);
    if (dryRun) continue;
    const result = spawnSync(command[0] as string, command.slice(1), { stdio: 'inherit' });
    if (result.error) throw new Error(`${command[0]}: ${result.error.message}`);
    if (result.status !== 0) process.exit(result.status ?? 1);
  }
}

/** Runs a command for its output (printed before, as every command); a failure stops the rollout. */
function readCommand(command: Command): string {
  const result = spawnSync(command[0] as string, command.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (result.error) throw new Error(`${command[0]}: ${result.error.message}`);
  if (result.status !== 0) process.exit(result.status ?? 1);
  const output = result.stdout.trim();
  if (!output) throw new Error(`${formatCommand(command)} printed nothing`);
  return output;
}

function findSpec(name: string | undefined): FunctionSpec {
  const spec = INVENTORY.find((entry) => entry.name === name);
  if (!spec) throw new Error(`FN must name a function: ${names(INVENTORY).join(', ')}`);
  return spec;
}

/** Where `rollout deploy` leaves the state it plans, for `rollout record` once the Services are Ready. */
export const PLANNED_STATE_FILE = 'rollout-planned.yaml';

/** The one line a recorded full rollout prints. */
function describeDeploy(state: RolloutState): string {
  const versions = [...new Set(Object.values(state).map((rollout) => rollout.stable.version))];
  return `every function stable at ${versions.join(', ')}, 100%, no canary`;
}

/** The manifests name the namespace; another one given would only change the printed commands. */
export function checkNamespace(given: string | undefined): void {
  if (given && given !== NAMESPACE) {
    throw new Error(
      `NAMESPACE=${given}: the manifests and kustomizations name the namespace ${NAMESPACE}, so the commands would apply them there anyway. ` +
        `To deploy into another namespace, change NAMESPACE in scripts/deploy/namespace.ts and run npm run manifests`,
    );
  }
}

async function main(action: string | undefined, fnName: string | undefined, percentText: string | undefined, env: NodeJS.ProcessEnv): Promise<void> {
  // RECORD_ONLY=1 (GitOps: the state is what a sync applies): runs no cluster command, records the state.
  const recordOnly = env['RECORD_ONLY'] === '1';
  const dryRun = env['DRY_RUN'] === '1' || recordOnly;
  checkNamespace(env['NAMESPACE']);
  const context: ClusterContext = { namespace: NAMESPACE, dir: env['DEPLOY_DIR'] || '.deploy' };
  if (action === 'status') return run(statusCommands(context.namespace), dryRun);
  if (!['deploy', 'secrets-version', 'record', 'canary', 'promote', 'rollback', 'contract', 'ingress'].includes(action ?? '')) {
    throw new Error('usage: rollout deploy | secrets-version | record | canary FN PERCENT | promote FN | rollback FN | contract | status | ingress');
  }
  const ingress = env['INGRESS'] || DEFAULT_INGRESS;
  if (!isIngressName(ingress)) throw new Error(`INGRESS must be one of ${Object.keys(INGRESSES).join(', ')}, not ${JSON.stringify(ingress)}`);
  if (action === 'ingress') return run(ingressSettingCommands(ingress), dryRun);
  const statePath = resolve(env['ROLLOUT_STATE'] || ROLLOUT_STATE_FILE);
  const fromHere = relative(process.cwd(), statePath);
  const shownPath = fromHere.startsWith('..') || isAbsolute(fromHere) ? statePath : fromHere;
  const functionNames = names(INVENTORY);
  const plannedPath = join(context.dir, PLANNED_STATE_FILE);
  const image = env['IMAGE'] || undefined;
  const version = env['VERSION'] || (await packageVersion());
  // POSTGRES, or the recorded backend: whose Secret the migration and contract Jobs read.
  const postgres = resolvePostgresBackend(await readPostgresBackend(statePath), env['POSTGRES']);

  const generate = async (next: RolloutState, job: Required<Release>) => {
    const written = await writeManifests(context.dir, { image: job.image, version: job.version, ingress, rollout: next, postgres });
    process.stdout.write(`wrote ${written.length} manifests for ${job.image}:${job.version} into ${context.dir}\n`);
  };
  // Only after the cluster took it: a failed apply or wait leaves the state as the cluster still has it.
  const record = async (next: RolloutState, line: string) => {
    if (dryRun && !recordOnly) {
      process.stdout.write(`${shownPath} (not written, DRY_RUN=1): ${line}\n`);
      return;
    }
    await writeRolloutState(statePath, next, functionNames, postgres);
    process.stdout.write(`${shownPath}: ${line}\n`);
  };

  if (action === 'secrets-version') {
    const planned = await readRolloutState(plannedPath, functionNames);
    if (!planned) throw new Error(`${plannedPath}: no planned rollout to give the Secrets' versions (make deploy plans one)`);
    const resourceVersions: Record<string, string> = {};
    for (const name of [...new Set(INVENTORY.flatMap(secretsOf))].sort()) {
      const command = secretVersionCommand(name, context);
      process.stdout.write(`${formatCommand(command)}\n`);
      // A dry run cannot ask: every Secret gets the same placeholder.
      resourceVersions[name] = dryRun ? 'dry-run' : readCommand(command);
    }
    const next = withSecretsVersions(planned, resourceVersions);
    await generate(next, { image: commonImage(next, image, INVENTORY), version: planned[INVENTORY[0]!.name]?.stable.version ?? version });
    await writeRolloutState(plannedPath, next, functionNames, postgres);
    return;
  }

  if (action === 'record') {
    const planned = await readRolloutState(plannedPath, functionNames);
    if (!planned) throw new Error(`${plannedPath}: no planned rollout to record (make deploy plans one)`);
    return record(planned, describeDeploy(planned));
  }

  const state = (await readRolloutState(statePath, functionNames)) ?? uniformRollout({ image: DEFAULT_IMAGE, version: await packageVersion() });
  if (action === 'deploy') {
    // Checked before anything is written: without it the functions that count per client refuse to start.
    const clientAddresses = renderClientAddresses({ namespace: NAMESPACE, partOf: PART_OF }, env['TRUSTED_PROXY_CIDRS']);
    const next = planDeploy(state, { image, version });
    const jobImage = commonImage(next, image, INVENTORY);
    await generate(next, { image: jobImage, version });
    await writeRolloutState(plannedPath, next, functionNames, postgres);
    await mkdir(join(context.dir, 'client-addresses'), { recursive: true });
    await writeFile(join(context.dir, 'client-addresses', 'configmap.yaml'), clientAddresses.configMap);
    await writeFile(join(context.dir, 'client-addresses', 'kustomization.yaml'), clientAddresses.kustomization);
    process.stdout.write(`wrote the ConfigMap accounts-client-addresses (TRUSTED_PROXY_CIDRS) into ${join(context.dir, 'client-addresses')}\n`);
  } else if (action === 'contract') {
    const release = planContract(state, image);
    await mkdir(join(context.dir, 'contract'), { recursive: true });
    await writeFile(join(context.dir, 'contract', 'job.yaml'), renderContractJob(release, postgres));
    await writeFile(
      join(context.dir, 'contract', 'kustomization.yaml'),
      kustomizationText(['job.yaml'], ['Generated by `make contract`.']),
    );
    process.stdout.write(`wrote the contract Job accounts-contract-v${versionSlug(release.version)} for ${release.image}:${release.version} into ${join(context.dir, 'contract')}\n`);
    run(contractCommands(release.version, context), dryRun);
  } else {
    const spec = findSpec(fnName);
    if (action === 'canary') {
      const next = planCanary(state, spec, Number(percentText || 'x'), { image, version, env: parseSetEnv(env['SET_ENV'] ?? '') });
      const canary = next[spec.name]!.canary!;
      await generate(next, { image: canary.image, version: canary.version });
      // The expand migrations of the new version first: the canary's code may need them, the stable's tolerates them.
      run(migrateCommands(canary.version, context), dryRun);
      run([...applyServiceCommands(spec, context), ...waitReadyCommands(spec, context)], dryRun);
      await record(next, describeTraffic(spec, next[spec.name]!));
    } else {
      const current = state[spec.name];
      const next = action === 'promote' ? planPromote(state, spec) : planRollback(state, spec);
      const target = action === 'promote' ? current!.canary! : current!.stable;
      const drift = templateDrift(spec, target, action === 'promote' ? 'canary' : 'stable');
      if (drift) process.stdout.write(`${drift}\n`);
      if (!current!.canary) process.stdout.write(`${spec.name} has no canary recorded: all the traffic to the recorded stable revision all the same (a canary that never got Ready is applied, not recorded)\n`);
      run([...trafficPatchCommands(spec, next[spec.name]!, context), ...waitReadyCommands(spec, context, action === 'promote' ? 'Ready' : 'RoutesReady')], dryRun);
      await record(next, describeTraffic(spec, next[spec.name]!));
    }
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [action, fnName, percentText] = process.argv.slice(2);
  try {
    await main(action, fnName, percentText, process.env);
  } catch (error) {
    process.stderr.write(`rollout: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
}
