import { currentTrace } from './trace-context.js';

/**
 * Structured JSON logs on stdout, one object per line: time, severity, message, function,
 * revision, and within a request its request id and trace id. Callers pass facts, never request
 * bodies: passwords, hashes and tokens must not reach a log line.
 */

export type Severity = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const RANK: Record<Severity, number> = { DEBUG: 10, INFO: 20, WARNING: 30, ERROR: 40 };
const LEVEL_TO_SEVERITY: Record<LogLevel, Severity> = { debug: 'DEBUG', info: 'INFO', warn: 'WARNING', error: 'ERROR' };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export interface LoggerOptions {
  /** The function (K_SERVICE). */
  readonly service: string;
  readonly revision: string;
  readonly level?: LogLevel;
  readonly write?: (line: string) => void;
  readonly now?: () => Date;
}

export function createLogger(options: LoggerOptions): Logger {
  const threshold = RANK[LEVEL_TO_SEVERITY[options.level ?? 'info']];
  const write = options.write ?? stdoutLines();
  const now = options.now ?? (() => new Date());
  const log = (severity: Severity, message: string, fields?: LogFields): void => {
    if (RANK[severity] < threshold) return;
    const trace = currentTrace();
    const entry = {
      time: now().toISOString(),
      severity,
      message,
      function: options.service,
      revision: options.revision,
      ...(trace ? { requestId: trace.requestId, traceId: trace.traceId, spanId: trace.spanId } : {}),
      ...fields,
    };
    // A replacer makes JSON.stringify call back for every key; a line of plain values (every request's) needs none.
    write(`${hasObjects(fields) ? JSON.stringify(entry, replaceErrors) : JSON.stringify(entry)}\n`);
  };
  return {
    debug: (message, fields) => log('DEBUG', message, fields),
    info: (message, fields) => log('INFO', message, fields),
    warn: (message, fields) => log('WARNING', message, fields),
    error: (message, fields) => log('ERROR', message, fields),
  };
}

/**
 * Writes log lines to stdout gathered once per turn of the event loop: under load that is one
 * write for many lines instead of one (synchronous, for files and pipes) per line. What is still
 * gathered when the process exits is written then.
 */
function stdoutLines(): (line: string) => void {
  let pending: string[] = [];
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (pending.length === 0) return;
    const text = pending.join('');
    pending = [];
    process.stdout.write(text);
  };
  process.on('exit', flush);
  return (line) => {
    pending.push(line);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
}

/** True when a field holds an object (an Error, or something that might hold one). */
function hasObjects(fields: LogFields | undefined): boolean {
  if (fields === undefined) return false;
  for (const key in fields) {
    const value = fields[key];
    if (typeof value === 'object' && value !== null) return true;
  }
  return false;
}

/** Errors are logged by name, message and stack; never with attached request data. */
function replaceErrors(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  return value;
}
