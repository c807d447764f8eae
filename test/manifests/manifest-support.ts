import { spawn, spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

/** Reading the committed cluster manifests the way kubectl does: every YAML document of every file. */

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type KubeObject = { [key: string]: Json } & { apiVersion: string; kind: string; metadata?: { [key: string]: Json } };

export interface ManifestDocument {
  /** Path relative to the repository root, or a label such as `kubectl kustomize knative`. */
  readonly source: string;
  /** Position of the document in its file, from 0. */
  readonly index: number;
  readonly object: KubeObject;
}

/** Kustomization files configure a build; they are not resources a cluster stores. */
export function isKustomization(path: string): boolean {
  return ['kustomization.yaml', 'kustomization.yml', 'Kustomization'].includes(basename(path));
}

/** The rollout state: the manifests generator reads it, no cluster stores it. */
export function isRolloutState(path: string): boolean {
  return path === 'knative/rollout.yaml';
}

/**
 * Every .yaml/.yml file under dir (recursive), relative to the repository root, sorted. An `overlays/`
 * folder below dir is left out: an overlay is another build of the same system (knative/overlays/
 * cloudnativepg replaces the StatefulSet), checked by tests of its own, not more resources of dir.
 */
export async function yamlFilesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(join(ROOT, dir), { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && /\.ya?ml$/.test(entry.name))
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)))
    .filter((file) => !relative(dir, file).split('/').includes('overlays'))
    .sort();
}

/** Parses a multi-document YAML text; a syntax error or a document without apiVersion/kind throws. */
export function parseDocuments(text: string, source: string): ManifestDocument[] {
  const documents: ManifestDocument[] = [];
  parseAllDocuments(text).forEach((document, index) => {
    if (document.errors.length > 0) throw new Error(`${source} document ${index}: ${document.errors.map((error) => error.message).join('; ')}`);
    const value = document.toJS() as unknown;
    if (value === null || value === undefined) return;
    if (typeof value !== 'object' || Array.isArray(value)) throw new Error(`${source} document ${index} is not a mapping`);
    const object = value as KubeObject;
    if (typeof object.apiVersion !== 'string' || typeof object.kind !== 'string') throw new Error(`${source} document ${index} has no apiVersion and kind`);
    documents.push({ source, index, object });
  });
  return documents;
}

/** Every resource document under the given folders, kustomization files left out. */
export async function loadManifests(...dirs: string[]): Promise<ManifestDocument[]> {
  const documents: ManifestDocument[] = [];
  for (const dir of dirs) {
    for (const file of await yamlFilesUnder(dir)) {
      if (isKustomization(file) || isRolloutState(file)) continue;
      documents.push(...parseDocuments(await readFile(join(ROOT, file), 'utf8'), file));
    }
  }
  return documents;
}

export interface KustomizeResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `kubectl kustomize DIR`: offline, no cluster involved. */
export function kustomize(dir: string): KustomizeResult {
  const result = spawnSync('kubectl', ['kustomize', resolve(ROOT, dir)], { encoding: 'utf8', timeout: 20_000 });
  if (result.error) throw new Error(`kubectl kustomize ${dir}: ${result.error.message}`);
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

export function named(documents: readonly ManifestDocument[], apiVersion: string, kind: string): KubeObject[] {
  return documents.filter((document) => document.object.apiVersion === apiVersion && document.object.kind === kind).map((document) => document.object);
}

export function nameOf(object: KubeObject): string {
  return String(object.metadata?.['name'] ?? '');
}

/** Reads a nested field (`path` of keys and array indexes); undefined when any step is missing. */
export function field(value: unknown, ...path: (string | number)[]): any {
  let current: unknown = value;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
}

export interface LabelSelector {
  readonly matchLabels?: Record<string, string>;
  readonly matchExpressions?: readonly { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

/** Kubernetes label-selector semantics; an empty selector matches everything. */
export function selectorMatches(selector: LabelSelector, labels: Record<string, string> | undefined): boolean {
  const actual = labels ?? {};
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (actual[key] !== value) return false;
  for (const expression of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(actual, expression.key);
    const inValues = has && (expression.values ?? []).includes(actual[expression.key]!);
    const ok =
      expression.operator === 'In' ? inValues : expression.operator === 'NotIn' ? !inValues : expression.operator === 'Exists' ? has : !has;
    if (!ok) return false;
  }
  return true;
}

export interface ImageReference {
  readonly repository: string;
  readonly tag: string | undefined;
  readonly digest: string | undefined;
}

/** Splits `registry:port/path/name:tag@sha256:...` (a registry port is not a tag). */
export function parseImage(reference: string): ImageReference {
  const [withoutDigest, digest] = reference.split('@', 2) as [string, string | undefined];
  const lastSlash = withoutDigest.lastIndexOf('/');
  const lastColon = withoutDigest.lastIndexOf(':');
  if (lastColon > lastSlash) return { repository: withoutDigest.slice(0, lastColon), tag: withoutDigest.slice(lastColon + 1), digest };
  return { repository: withoutDigest, tag: undefined, digest };
}

/** Why an image reference is not pinned, or undefined when it carries a version tag or a digest. */
export function unpinnedReason(reference: string): string | undefined {
  const { tag, digest } = parseImage(reference);
  if (digest !== undefined) return /^sha256:[0-9a-f]{64}$/.test(digest) ? undefined : `${reference}: malformed digest`;
  if (tag === undefined || tag === '') return `${reference}: no tag (the registry serves latest)`;
  if (tag === 'latest') return `${reference}: tag latest moves with every push`;
  return undefined;
}

/** Every container and init container of a pod spec. */
export function containersOf(podSpec: unknown): any[] {
  return [...((field(podSpec, 'initContainers') as any[] | undefined) ?? []), ...((field(podSpec, 'containers') as any[] | undefined) ?? [])];
}

/** The pod spec of a workload: Knative Service, Job, StatefulSet. */
export function podSpecOf(object: KubeObject): unknown {
  return field(object, 'spec', 'template', 'spec');
}

/* The real make targets, as an operator runs them (deploy-commands.test.ts, rollouts.test.ts). */

export const SECRET_VARIABLES = ['POSTGRES_PASSWORD', 'USERS_DB_PASSWORD', 'CREDENTIALS_DB_PASSWORD', 'AUTH_DB_PASSWORD', 'NOTIFY_DB_PASSWORD', 'JWT_PRIVATE_KEY_FILE', 'JWT_PUBLIC_KEY_FILE', 'SMTP_URL', 'EVENT_SEAL_KEY'];
/** Variables of the caller's shell that would change what make does (make reads them as defaults). */
const INHERITED = ['KUBECTL_LOG', 'KUBECTL_FAIL', 'IMAGE', 'VERSION', 'NAMESPACE', 'INGRESS', 'DRY_RUN', 'POSTGRES', 'BACKUP_DESTINATION', 'BACKUP_ENDPOINT_URL', 'BACKUP_S3_ACCESS_KEY_ID', 'BACKUP_S3_SECRET_ACCESS_KEY', 'BACKUP_SECRET_ONLY', 'DATABASE_HOST', 'FN', 'PERCENT', 'SET_ENV', 'ROLLOUT_STATE', 'DEPLOY_DIR', 'TRUSTED_PROXY_CIDRS', 'JWT_KEY_ID', 'MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'MAKEOVERRIDES', ...SECRET_VARIABLES];

export interface MakeResult {
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
export function make(args: string[], env: Record<string, string> = {}): Promise<MakeResult> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([key]) => !INHERITED.includes(key))) as Record<string, string>;
  return new Promise((resolve, reject) => {
    // Its own process group, so a timeout stops make and everything it started (npx, tsx, node).
    const child = spawn('make', ['-s', '-o', 'node_modules/.installed', ...args], { cwd: ROOT, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    }, 180_000);
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

/**
 * A stand-in `kubectl` for running the real make targets without a cluster: it appends each call's
 * arguments, one line per call, to a log and exits 0; it exits 1 when its arguments contain
 * KUBECTL_FAIL (a failed apply or wait). `kubectl get secret NAME` answers the resourceVersion
 * given as SECRET_RV_<NAME> (upper case, `_` for `-`), else 1.
 */
export async function standInKubectl(dir: string): Promise<{ env: Record<string, string>; calls: () => Promise<string[]> }> {
  const bin = join(dir, 'bin');
  const log = join(dir, 'kubectl.log');
  await mkdir(bin, { recursive: true });
  await writeFile(log, '');
  await writeFile(
    join(bin, 'kubectl'),
    [
      '#!/bin/sh',
      'printf \'%s\\n\' "$*" >> "$KUBECTL_LOG"',
      'case "$*" in *"-f -"*) cat >/dev/null ;; esac',
      'if [ -n "${KUBECTL_FAIL:-}" ]; then case "$*" in *"$KUBECTL_FAIL"*) echo "kubectl (stand-in): failing as told: $*" >&2; exit 1 ;; esac; fi',
      'if [ "$1" = get ] && [ "$2" = secret ]; then',
      '  var=$(printf \'SECRET_RV_%s\' "$3" | tr \'a-z-\' \'A-Z_\')',
      '  eval "printf \'%s\' \\"\\${$var:-1}\\""',
      'fi',
      'exit 0',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  return {
    env: { PATH: `${bin}:${process.env['PATH'] ?? ''}`, KUBECTL_LOG: log },
    calls: async () => (await readFile(log, 'utf8')).split('\n').filter((line) => line !== ''),
  };
}
