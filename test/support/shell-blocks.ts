import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * The shell blocks of the README and the guides, and how a test runs them. Every ```sh / ```bash /
 * ```console block carries a tag after its language saying what the test does with it:
 *
 *   run                 run as is, in the guide's one bash session (variables carry over)
 *   dry-run             run with DRY_RUN=1: the cluster targets print their commands; must exit 0
 *   long-running        started (`make dev`), waited for until its gateway answers, stopped
 *   cluster: <why>      not run, it needs a real cluster: the reason is required
 *   manual: <why>       not run, for the reason given (the test suite itself, minutes of fuzzing, …)
 *
 * A block without a tag, or with another one, is a problem the test reports, so a new block must be
 * classified.
 */

export const SHELL_LANGUAGES = ['sh', 'bash', 'console', 'shell'] as const;
export const RUN_TAGS = ['run', 'dry-run', 'long-running'] as const;
export const REASON_TAGS = ['cluster', 'manual'] as const;

export type ShellBlockKind = (typeof RUN_TAGS)[number] | (typeof REASON_TAGS)[number];

export interface ShellBlock {
  /** Where it is: `docs/api.md:42` (the line of its opening fence). */
  readonly where: string;
  readonly kind: ShellBlockKind | undefined;
  /** What follows a reason tag's colon. */
  readonly reason: string;
  /** The commands, indentation of the fence removed; a console block's `$ ` lines only. */
  readonly script: string;
  /** What is wrong with its tag, if anything. */
  readonly problem?: string;
}

const FENCE = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)(.*)$/;

function classify(info: string): Pick<ShellBlock, 'kind' | 'reason' | 'problem'> {
  const text = info.trim();
  if (text === '') return { kind: undefined, reason: '', problem: `untagged: add one of ${[...RUN_TAGS, ...REASON_TAGS].join(', ')}` };
  const reasonTag = /^([\w-]+):\s*(.*)$/.exec(text);
  if (reasonTag) {
    const [, tag, reason] = reasonTag as unknown as [string, string, string];
    if (!(REASON_TAGS as readonly string[]).includes(tag)) return { kind: undefined, reason: '', problem: `unknown tag "${tag}:"` };
    return { kind: tag as ShellBlockKind, reason };
  }
  if ((RUN_TAGS as readonly string[]).includes(text)) return { kind: text as ShellBlockKind, reason: '' };
  if ((REASON_TAGS as readonly string[]).includes(text)) return { kind: text as ShellBlockKind, reason: '', problem: `"${text}" needs a reason: \`${text}: why it is not run\`` };
  return { kind: undefined, reason: '', problem: `unknown tag "${text}"` };
}

/** A console block's commands: the `$ ` lines (and their continuations), without the prompt. */
function consoleCommands(lines: readonly string[]): string[] {
  const commands: string[] = [];
  let continuing = false;
  for (const line of lines) {
    if (line.startsWith('$ ')) commands.push(line.slice(2));
    else if (continuing) commands.push(line);
    else continue;
    continuing = line.endsWith('\\');
  }
  return commands;
}

/** Every shell block of a Markdown file, in order. */
export function extractShellBlocks(markdown: string, file: string): ShellBlock[] {
  const lines = markdown.split('\n');
  const blocks: ShellBlock[] = [];
  for (let index = 0; index < lines.length; index++) {
    const opening = FENCE.exec(lines[index] as string);
    if (!opening) continue;
    const [, indent, fence, language, info] = opening as unknown as [string, string, string, string, string];
    const body: string[] = [];
    let end = index + 1;
    for (; end < lines.length; end++) {
      const line = lines[end] as string;
      if (line.trim().startsWith(fence) && line.trim().replace(/[`~]/g, '') === '') break;
      body.push(line.startsWith(indent) ? line.slice(indent.length) : line.trimStart());
    }
    if ((SHELL_LANGUAGES as readonly string[]).includes(language)) {
      const script = (language === 'console' ? consoleCommands(body) : body).join('\n');
      blocks.push({ where: `${file}:${index + 1}`, script, ...classify(info) });
    }
    index = end;
  }
  return blocks;
}

/**
 * The bash script of one guide's session: its `run` and `dry-run` blocks in order, each announced on
 * stderr, stopping at the first command that fails. `make`, `npm` and `npx` run in the project (the
 * make target `install` is taken as done: the suite runs after `npm ci`); everything else runs
 * where the session is started, a scratch folder.
 */
export function sessionScript(blocks: readonly ShellBlock[], project: string): string {
  const quotedProject = `'${project.replace(/'/g, `'\\''`)}'`;
  const lines = [
    'set -e -o pipefail',
    `PROJECT=${quotedProject}`,
    'make() { command make --no-print-directory -C "$PROJECT" --old-file=node_modules/.installed "$@"; }',
    'npm() { (cd "$PROJECT" && command npm "$@"); }',
    'npx() { (cd "$PROJECT" && command npx "$@"); }',
  ];
  for (const block of blocks) {
    if (block.kind !== 'run' && block.kind !== 'dry-run') continue;
    lines.push(`echo ${shellQuote(`### block ${block.where}`)} >&2`);
    if (block.kind === 'dry-run') lines.push('export DRY_RUN=1');
    lines.push(block.script);
    if (block.kind === 'dry-run') lines.push('unset DRY_RUN');
  }
  lines.push(`echo '### every block ran' >&2`);
  return `${lines.join('\n')}\n`;
}

export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

export interface SessionResult {
  readonly code: number | null;
  readonly output: string;
  /** The block that was running when the session ended (the failing one when code is not 0). */
  readonly lastBlock: string | undefined;
  readonly timedOut: boolean;
}

/**
 * Runs a script in bash, in a process group of its own: on timeout the whole group is killed, and
 * anything the script left running in the background is stopped when it ends.
 */
export function runBash(script: string, options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number }): Promise<SessionResult> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', script], { cwd: options.cwd, env: options.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    let timedOut = false;
    const killGroup = (signal: NodeJS.Signals): void => {
      try {
        process.kill(-(child.pid as number), signal);
      } catch {
        // the group is gone already
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGKILL');
    }, options.timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      killGroup('SIGKILL');
      const announced = [...output.matchAll(/^### block (\S+)$/gm)].map((match) => match[1]);
      resolve({ code, output, lastBlock: announced.at(-1), timedOut });
    });
  });
}

/**
 * Whether any process of the group `pgid` still runs, read from /proc: a killed process its parent
 * has not reaped yet (a zombie) runs no more, though signals still find it.
 */
export function groupAlive(pgid: number): boolean {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // it ended meanwhile
    }
    // pid (comm) state ppid pgrp …: comm may hold spaces and parentheses, so read after its last ')'.
    const [state, , group] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(group) === pgid && state !== 'Z') return true;
  }
  return false;
}

export interface LongRunning {
  /** The URL it printed once it served. */
  readonly url: string;
  /** Ctrl-C to the whole group, then its exit code (SIGKILL after graceMs). */
  stop(graceMs?: number): Promise<number | null>;
  readonly output: () => string;
  /** Its process group. */
  readonly pgid: number;
}

/**
 * Starts a long-running block (in the project, as a reader would from its root) and resolves once it
 * printed a line matching `ready` with a URL; rejects when it exits first or takes longer than timeoutMs.
 */
export function startLongRunning(
  block: ShellBlock,
  options: { project: string; env: NodeJS.ProcessEnv; ready: RegExp; timeoutMs: number },
): Promise<LongRunning> {
  const script = `set -e -o pipefail\nmake() { command make --no-print-directory --old-file=node_modules/.installed "$@"; }\n${block.script}\n`;
  const child = spawn('bash', ['-c', script], { cwd: options.project, env: options.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const signalGroup = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-(child.pid as number), signal);
    } catch {
      // the group is gone already
    }
  };
  // Ctrl-C reaches every process of the group, as in a terminal; whatever still runs after graceMs is killed.
  const stop = async (graceMs = 20_000): Promise<number | null> => {
    signalGroup('SIGINT');
    const deadline = Date.now() + graceMs;
    const code = await exited;
    while (groupAlive(child.pid as number) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    signalGroup('SIGKILL');
    return code;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop(1_000).then(() => reject(new Error(`${block.where} did not print ${options.ready} in ${options.timeoutMs} ms:\n${output}`)));
    }, options.timeoutMs);
    const check = (): void => {
      const found = options.ready.exec(output);
      if (!found) return;
      clearTimeout(timer);
      child.stdout.off('data', check);
      resolve({ url: found[1] as string, stop, output: () => output, pgid: child.pid as number });
    };
    child.stdout.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${block.where} exited with ${code} before it served:\n${output}`));
    });
  });
}
