import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { INVENTORY, type FunctionSpec } from '../functions/inventory.js';
import { DEFAULT_IMAGE, NAMESPACE, packageVersion, revisionName } from './manifests.js';

/**
 * Canary rollouts by revision traffic splitting, with `kn`:
 *   canary FN PERCENT   deploy the current image as revision <fn>-<version>, PERCENT% of traffic, tag `canary`
 *   promote FN          all traffic to the latest revision, drop the tag
 *   rollback FN         all traffic back to the stable revision, drop the tag
 *   status              every service's revisions and traffic
 * Each command is printed before it runs; DRY_RUN=1 prints only.
 */

export interface RolloutContext {
  readonly image: string;
  readonly version: string;
  readonly namespace: string;
  /** The revision serving the rest of the traffic (found with `kn`, or given). */
  readonly stableRevision: string;
}

export type KnCommand = readonly string[];

export function canaryCommands(spec: FunctionSpec, percent: number, context: RolloutContext): KnCommand[] {
  if (!Number.isInteger(percent) || percent < 1 || percent > 99) throw new Error('PERCENT must be a whole number from 1 to 99');
  const canary = revisionName(spec.name, context.version);
  if (canary === context.stableRevision) throw new Error(`${canary} already serves; bump VERSION for a canary`);
  return [
    [
      'kn', 'service', 'update', spec.name,
      '--namespace', context.namespace,
      '--image', `${context.image}:${context.version}`,
      '--revision-name', canary,
      '--traffic', `${context.stableRevision}=${100 - percent},${canary}=${percent}`,
      '--tag', `${canary}=canary`,
    ],
  ];
}

export function promoteCommands(spec: FunctionSpec, context: Pick<RolloutContext, 'namespace'>): KnCommand[] {
  return [['kn', 'service', 'update', spec.name, '--namespace', context.namespace, '--traffic', '@latest=100', '--untag', 'canary']];
}

export function rollbackCommands(spec: FunctionSpec, context: Pick<RolloutContext, 'namespace' | 'stableRevision'>): KnCommand[] {
  return [
    ['kn', 'service', 'update', spec.name, '--namespace', context.namespace, '--traffic', `${context.stableRevision}=100`, '--untag', 'canary'],
  ];
}

export function statusCommands(namespace: string): KnCommand[] {
  return [
    ['kn', 'service', 'list', '--namespace', namespace],
    ...INVENTORY.map((spec) => ['kn', 'revision', 'list', '--namespace', namespace, '--service', spec.name]),
  ];
}

/** Shell-quotes for printing, so a printed command can be pasted as is. */
export function formatCommand(command: KnCommand): string {
  return command.map((part) => (/^[\w@%+=:,./-]+$/.test(part) ? part : `'${part.replace(/'/g, `'\\''`)}'`)).join(' ');
}

interface KnTrafficTarget {
  revisionName?: string;
  percent?: number;
  tag?: string;
}

/**
 * The revision carrying the traffic that is not the canary's: asked of the cluster with `kn`; in a
 * dry run (no cluster), the revision the committed manifests name.
 */
function findStableRevision(spec: FunctionSpec, namespace: string, dryRun: boolean, manifestVersion: string): string {
  if (dryRun) return process.env['STABLE_REVISION'] || revisionName(spec.name, manifestVersion);
  const described = spawnSync('kn', ['service', 'describe', spec.name, '--namespace', namespace, '-o', 'json'], { encoding: 'utf8' });
  if (described.status !== 0) throw new Error(`kn service describe ${spec.name} failed: ${described.stderr.trim()}`);
  const traffic = ((JSON.parse(described.stdout) as { status?: { traffic?: KnTrafficTarget[] } }).status?.traffic ?? []).filter(
    (target) => target.tag !== 'canary' && (target.percent ?? 0) > 0 && target.revisionName,
  );
  const stable = traffic.sort((a, b) => (b.percent ?? 0) - (a.percent ?? 0))[0]?.revisionName;
  if (!stable) throw new Error(`${spec.name} has no revision serving traffic outside the canary`);
  return stable;
}

function run(commands: readonly KnCommand[], dryRun: boolean): void {
  for (const command of commands) {
    process.stdout.write(`${formatCommand(command)}\n`);
    if (dryRun) continue;
    const result = spawnSync(command[0] as string, command.slice(1), { stdio: 'inherit' });
    if (result.error) throw new Error(`${command[0]}: ${result.error.message}`);
    if (result.status !== 0) process.exit(result.status ?? 1);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [action, fnName, percentText] = process.argv.slice(2);
  const dryRun = process.env['DRY_RUN'] === '1';
  const namespace = process.env['NAMESPACE'] || NAMESPACE;
  try {
    if (action === 'status') {
      run(statusCommands(namespace), dryRun);
    } else {
      const spec = INVENTORY.find((entry) => entry.name === fnName);
      if (!spec) throw new Error(`FN must name a function: ${INVENTORY.map((entry) => entry.name).join(', ')}`);
      const manifestVersion = await packageVersion();
      const version = process.env['VERSION'] || manifestVersion;
      if (version === 'latest') throw new Error('VERSION must be a version, never "latest"');
      const image = process.env['IMAGE'] || DEFAULT_IMAGE;
      if (action === 'canary') {
        const stableRevision = findStableRevision(spec, namespace, dryRun, manifestVersion);
        run(canaryCommands(spec, Number(percentText), { image, version, namespace, stableRevision }), dryRun);
      } else if (action === 'promote') {
        run(promoteCommands(spec, { namespace }), dryRun);
      } else if (action === 'rollback') {
        run(rollbackCommands(spec, { namespace, stableRevision: findStableRevision(spec, namespace, dryRun, manifestVersion) }), dryRun);
      } else {
        throw new Error('usage: rollout canary FN PERCENT | promote FN | rollback FN | status');
      }
    }
  } catch (error) {
    process.stderr.write(`rollout: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
}
