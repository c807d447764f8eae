import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { INVENTORY, type FunctionSpec } from '../../functions/inventory.js';
import { renderContractJob } from './jobs.js';
import { kustomizationText, packageVersion, writeManifests } from './manifests.js';
import { DEFAULT_IMAGE, NAMESPACE, PART_OF, versionSlug } from './namespace.js';
import { DEFAULT_INGRESS, INGRESSES, isIngressName } from './network-policies.js';
import { serviceOptionsOf, templateRevisionName, type TrafficTarget, uniformRollout } from './services.js';
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
 *   deploy              every function's stable revision becomes VERSION's, all the traffic, no canary;
 *                       writes the state and the manifests into DEPLOY_DIR (make deploy applies them)
 *   canary FN PERCENT   VERSION's expand migrations (the migration Job), then PERCENT% of FN's traffic
 *                       to VERSION's revision, tag canary; SET_ENV="NAME=value …" changes variables
 *   promote FN          the canary becomes the stable revision, all the traffic
 *   rollback FN         the canary goes, the stable revision takes all the traffic again
 *   contract            the contract migrations, once every function runs one version and no canary is in flight
 *   status              every service's revisions and traffic, as the cluster has them (kn)
 *   ingress             patches INGRESS's settings the client addresses depend on (scripts/deploy/client-addresses.ts)
 * deploy also writes the ConfigMap of TRUSTED_PROXY_CIDRS (required) into DEPLOY_DIR/client-addresses.
 * Each changes the state, regenerates the manifests from it and applies the Service (`kubectl apply`);
 * every cluster command is printed before it runs; DRY_RUN=1 prints them and runs none, but still
 * writes the state and the manifests. IMAGE left empty keeps the image each function runs.
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
  return { image: inputs.image, version: inputs.version, ...(Object.keys(env).length > 0 ? { env } : {}), revision: templateRevisionName(spec, inputs) };
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
      return [spec.name, { stable: recordOf(spec, { image: release.image || base?.image || DEFAULT_IMAGE, version: release.version, env: base?.env }) }];
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
  const canary = recordOf(spec, { image: release.image || current.stable.image, version: release.version, env: mergeEnv(current.stable.env, release.env ?? {}) });
  if (canary.revision === current.stable.revision) {
    throw new Error(`${canary.revision} already serves ${spec.name}: the canary's template is the stable one's; bump VERSION (or change a variable with SET_ENV) for a canary`);
  }
  return { ...state, [spec.name]: { stable: current.stable, canary: { ...canary, percent } } };
}

/** `make promote FN=…`: the canary takes all the traffic as the new stable revision. */
export function planPromote(state: RolloutState, spec: FunctionSpec): RolloutState {
  const canary = state[spec.name]?.canary;
  if (!canary) throw new Error(`${spec.name} has no canary in flight: nothing to promote (make canary first)`);
  return { ...state, [spec.name]: { stable: recordOf(spec, canary) } };
}

/** `make rollback FN=…`: the canary goes; the stable revision's template and all the traffic come back. */
export function planRollback(state: RolloutState, spec: FunctionSpec): RolloutState {
  const current = state[spec.name];
  if (!current?.canary) throw new Error(`${spec.name} has no canary in flight: nothing to roll back`);
  return { ...state, [spec.name]: { stable: recordOf(spec, current.stable) } };
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

/** One line: where a function's traffic goes under this rollout state, as its generated Service says. */
export function describeTraffic(spec: FunctionSpec, rollout: FunctionRollout): string {
  return `${spec.name}: ${serviceOptionsOf(spec, rollout).traffic.map(describeTarget).join(', ')}`;
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

export function contractCommands(version: string, context: ClusterContext): Command[] {
  return [
    ['kubectl', 'apply', '-k', join(context.dir, 'contract')],
    ['kubectl', '--namespace', context.namespace, 'wait', '--for=condition=complete', '--timeout=300s', 'job', '-l', `app.kubernetes.io/name=accounts-contract,app.kubernetes.io/version=${version}`],
  ];
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

function findSpec(name: string | undefined): FunctionSpec {
  const spec = INVENTORY.find((entry) => entry.name === name);
  if (!spec) throw new Error(`FN must name a function: ${names(INVENTORY).join(', ')}`);
  return spec;
}

async function main(action: string | undefined, fnName: string | undefined, percentText: string | undefined, env: NodeJS.ProcessEnv): Promise<void> {
  const dryRun = env['DRY_RUN'] === '1';
  const context: ClusterContext = { namespace: env['NAMESPACE'] || NAMESPACE, dir: env['DEPLOY_DIR'] || '.deploy' };
  if (action === 'status') return run(statusCommands(context.namespace), dryRun);
  if (!['deploy', 'canary', 'promote', 'rollback', 'contract', 'ingress'].includes(action ?? '')) {
    throw new Error('usage: rollout deploy | canary FN PERCENT | promote FN | rollback FN | contract | status | ingress');
  }
  const ingress = env['INGRESS'] || DEFAULT_INGRESS;
  if (!isIngressName(ingress)) throw new Error(`INGRESS must be one of ${Object.keys(INGRESSES).join(', ')}, not ${JSON.stringify(ingress)}`);
  if (action === 'ingress') return run(ingressSettingCommands(ingress), dryRun);
  const statePath = resolve(env['ROLLOUT_STATE'] || ROLLOUT_STATE_FILE);
  const fromHere = relative(process.cwd(), statePath);
  const shownPath = fromHere.startsWith('..') || isAbsolute(fromHere) ? statePath : fromHere;
  const functionNames = names(INVENTORY);
  const state = (await readRolloutState(statePath, functionNames)) ?? uniformRollout({ image: DEFAULT_IMAGE, version: await packageVersion() });
  const image = env['IMAGE'] || undefined;
  const version = env['VERSION'] || (await packageVersion());
  // POSTGRES, or the recorded backend: whose Secret the migration and contract Jobs read.
  const postgres = resolvePostgresBackend(await readPostgresBackend(statePath), env['POSTGRES']);

  const generate = async (next: RolloutState, job: Required<Release>) => {
    const written = await writeManifests(context.dir, { image: job.image, version: job.version, ingress, rollout: next, postgres });
    process.stdout.write(`wrote ${written.length} manifests for ${job.image}:${job.version} into ${context.dir}\n`);
  };
  const record = async (next: RolloutState, line: string) => {
    await writeRolloutState(statePath, next, functionNames, postgres);
    process.stdout.write(`${shownPath}: ${line}\n`);
  };

  if (action === 'deploy') {
    // Checked before anything is recorded: without it the functions that count per client refuse to start.
    const clientAddresses = renderClientAddresses({ namespace: NAMESPACE, partOf: PART_OF }, env['TRUSTED_PROXY_CIDRS']);
    const next = planDeploy(state, { image, version });
    const jobImage = commonImage(next, image, INVENTORY);
    await record(next, `every function stable at ${version}, 100%, no canary`);
    await generate(next, { image: jobImage, version });
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
      await record(next, describeTraffic(spec, next[spec.name]!));
      run(applyServiceCommands(spec, context), dryRun);
    } else {
      const next = action === 'promote' ? planPromote(state, spec) : planRollback(state, spec);
      const stable = next[spec.name]!.stable;
      await generate(next, { image: stable.image, version: stable.version });
      await record(next, describeTraffic(spec, next[spec.name]!));
      run(applyServiceCommands(spec, context), dryRun);
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
