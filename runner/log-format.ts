/**
 * The runner's console: functions log JSON lines (for machines); in `pretty` mode the runner shows
 * each as one short line for people, keeping the request and trace ids to follow a request across
 * functions.
 */
export type LogFormat = 'pretty' | 'json';

const SEVERITY_LABEL: Record<string, string> = { DEBUG: 'debug', INFO: 'info ', WARNING: 'WARN ', ERROR: 'ERROR' };
/** Shown in their own places, or not at all. */
const SHOWN = new Set(['time', 'severity', 'message', 'function', 'revision', 'requestId', 'traceId', 'spanId', 'method', 'path', 'status', 'durationMs']);

export function formatFunctionLine(name: string, line: string, format: LogFormat): string {
  const prefix = `${name.padEnd(18)} |`;
  if (format === 'json') return `${prefix} ${line}`;
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return `${prefix} ${line}`;
  }
  if (typeof entry !== 'object' || entry === null) return `${prefix} ${line}`;
  const time = typeof entry['time'] === 'string' ? entry['time'].slice(11, 23) : '';
  const severity = SEVERITY_LABEL[String(entry['severity'])] ?? String(entry['severity'] ?? '');
  const parts = [time, severity];
  if (entry['message'] === 'request') {
    parts.push(`${entry['method']} ${entry['path']} ${entry['status']} ${entry['durationMs']}ms`);
  } else {
    parts.push(String(entry['message'] ?? ''));
  }
  const details = Object.entries(entry)
    .filter(([key]) => !SHOWN.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  if (details.length > 0) parts.push(details.join(' '));
  if (typeof entry['traceId'] === 'string') parts.push(`trace=${entry['traceId'].slice(0, 8)}`);
  return `${prefix} ${parts.filter((part) => part !== '').join(' ')}`;
}
