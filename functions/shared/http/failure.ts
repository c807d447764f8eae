import type { Logger, LogFields } from '../logging.js';
import type { AccountsMetrics } from '../telemetry/telemetry.js';
import { toProblem, type ProblemAnswer } from './problem.js';

/** Where a failed request is reported. */
export interface FailureReporting {
  readonly logger: Logger;
  readonly metrics: Pick<AccountsMetrics, 'countDependencyFailure'>;
}

/**
 * The answer to a request that failed, reported by what the failure is: a dependency's outage
 * (503 with Retry-After) is logged at warn as `dependency unavailable` with the dependency's name
 * and counted by dependency; anything else answered 5xx is a fault, logged at error as
 * `request failed`; a 4xx is the client's and not logged here.
 */
export function answerFailure(error: unknown, reporting: FailureReporting, fields: LogFields = {}): ProblemAnswer {
  const answer = toProblem(error);
  if (answer.dependency) {
    reporting.logger.warn('dependency unavailable', { dependency: answer.dependency, ...fields, reason: reasonOf(error) });
    reporting.metrics.countDependencyFailure(answer.dependency);
  } else if (answer.problem.status >= 500) {
    reporting.logger.error('request failed', { ...fields, error });
  }
  return answer;
}

/** The error's message and its causes', for the log: an outage needs no stack trace. */
export function reasonOf(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 4; depth += 1) {
    const message = current instanceof Error ? current.message : String(current);
    if (message && !parts.some((part) => part.includes(message))) parts.push(message);
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(': ');
}
