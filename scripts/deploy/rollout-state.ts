import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { z } from 'zod';

/**
 * The rollout state (`knative/rollout.yaml`): per function, the revision that takes the traffic and
 * an optional canary beside it. `make deploy`, `canary`, `promote` and `rollback` rewrite it;
 * `npm run manifests` turns it into each Service's template and `spec.traffic`. ROLLOUT_STATE names
 * another file (tests and dry runs work on a copy).
 */

export const ROLLOUT_STATE_FILE = join(fileURLToPath(new URL('../..', import.meta.url)), 'knative', 'rollout.yaml');

/** What picks a revision's template besides the sources: the image, its version, variables set on top of the generated ones. */
export interface RevisionInputs {
  readonly image: string;
  readonly version: string;
  readonly env?: Readonly<Record<string, string>>;
  /** A hash over the resourceVersions of the Secrets the function references: a rotated Secret, a new revision. */
  readonly secretsVersion?: string;
}

export interface RevisionRecord extends RevisionInputs {
  /** The name the revision was applied under (`<service>-v<version>-<template hash>`). */
  readonly revision: string;
}

export interface CanaryRecord extends RevisionRecord {
  /** Its share of the traffic; the stable revision takes the rest. */
  readonly percent: number;
}

export interface FunctionRollout {
  readonly stable: RevisionRecord;
  readonly canary?: CanaryRecord;
}

/** Per function name, in inventory order. */
export type RolloutState = Readonly<Record<string, FunctionRollout>>;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const revisionFields = {
  image: z.string().min(1),
  version: z.string().min(1).refine((version) => version !== 'latest', 'a version, never "latest"'),
  env: z.record(z.string().regex(ENV_NAME, 'an environment variable name'), z.string()).optional(),
  secretsVersion: z.string().regex(/^[0-9a-f]{10}$/, '10 hex digits').optional(),
  revision: z.string().regex(DNS_LABEL, 'a revision name (lower-case letters, digits and hyphens, at most 63)'),
};
const stateSchema = z.record(
  z.string(),
  z.strictObject({
    stable: z.strictObject(revisionFields),
    canary: z.strictObject({ ...revisionFields, percent: z.number().int().min(1).max(99) }).optional(),
  }),
);

/** Where the database runs (top-level key `postgres`); a file without the key predates it: the StatefulSet. */
export const POSTGRES_BACKENDS = ['statefulset', 'cloudnativepg'] as const;
export type PostgresBackend = (typeof POSTGRES_BACKENDS)[number];
export const isPostgresBackend = (value: unknown): value is PostgresBackend => (POSTGRES_BACKENDS as readonly unknown[]).includes(value);

/** The functions' records of a parsed file, and its `postgres` key apart. */
function splitState(text: string, source: string): { functions: unknown; postgres: PostgresBackend } {
  const { postgres = 'statefulset', ...functions } = (parse(text) ?? {}) as Record<string, unknown>;
  if (!isPostgresBackend(postgres)) throw new Error(`${source}: postgres: ${POSTGRES_BACKENDS.join(' or ')}, not ${JSON.stringify(postgres)}`);
  return { functions, postgres };
}

/** Parses and checks a rollout state; names every function it does not know and every bad field. */
export function parseRolloutState(text: string, source: string, functionNames: readonly string[]): RolloutState {
  const parsed = stateSchema.safeParse(splitState(text, source).functions);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new Error(`${source}: ${problems.join('; ')}`);
  }
  const unknown = Object.keys(parsed.data).filter((name) => !functionNames.includes(name));
  if (unknown.length > 0) throw new Error(`${source}: no function in the inventory is called ${unknown.join(', ')}`);
  return parsed.data;
}

const HEADER = `# Which revisions of each function take its traffic. make deploy, canary, promote and rollback
# rewrite this file; \`npm run manifests\` turns it into each Service's template and spec.traffic.
# Commit it after every rollout. Per function:
#   stable  the revision taking the traffic: all of it, or what the canary leaves
#   canary  (while one is in flight) a newer revision taking \`percent\`, tag canary; its template is
#           the one the Service renders. make promote or make rollback ends it.
# image, version, env (variables set on top of the generated ones) and secretsVersion (a hash over the
# resourceVersions of the Secrets it references) pick a revision's template; revision is the name it was applied under.
# postgres (statefulset or cloudnativepg): where the database runs; only the documented move
# (make migrate-to-cloudnativepg) changes it.
`;

/** The file's text: a header, the database's backend, then the functions in the given order. */
export function formatRolloutState(state: RolloutState, functionNames: readonly string[], postgres: PostgresBackend = 'statefulset'): string {
  const ordered: Record<string, unknown> = { postgres };
  for (const name of functionNames) {
    const entry = state[name];
    if (!entry) continue;
    ordered[name] = entry.canary ? { stable: recordFields(entry.stable), canary: { ...recordFields(entry.canary), percent: entry.canary.percent } } : { stable: recordFields(entry.stable) };
  }
  return `${HEADER}${stringify(ordered, { lineWidth: 0 })}`;
}

function recordFields(record: RevisionRecord): Record<string, unknown> {
  const env = record.env && Object.keys(record.env).length > 0 ? { env: sortedEnv(record.env) } : {};
  const secretsVersion = record.secretsVersion ? { secretsVersion: record.secretsVersion } : {};
  return { image: record.image, version: record.version, ...env, ...secretsVersion, revision: record.revision };
}

/** Variables by name, so that the same set always renders (and hashes) the same. */
export function sortedEnv(env: Readonly<Record<string, string>> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(env ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The state in the file, or undefined when there is no such file. */
export async function readRolloutState(path: string, functionNames: readonly string[]): Promise<RolloutState | undefined> {
  const text = await readText(path);
  return text === undefined ? undefined : parseRolloutState(text, path, functionNames);
}

/** The backend the file records, or undefined when there is no such file (nothing deployed from it yet). */
export async function readPostgresBackend(path: string): Promise<PostgresBackend | undefined> {
  const text = await readText(path);
  return text === undefined ? undefined : splitState(text, path).postgres;
}

/** Writes the functions' records; the backend given, or else the one the file records. */
export async function writeRolloutState(path: string, state: RolloutState, functionNames: readonly string[], postgres?: PostgresBackend): Promise<void> {
  const backend = postgres ?? (await readPostgresBackend(path));
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, formatRolloutState(state, functionNames, backend));
}
