import { z } from 'zod';

/** Settings of the local runner (a development tool, not a function), all optional. */
const runnerSchema = z.object({
  GATEWAY_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /** First port of the functions' own ports (one each, in inventory order); 0 picks free ports. */
  FUNCTION_PORT_BASE: z.coerce.number().int().min(0).max(65535).default(8081),
  /** A Postgres to use instead of the embedded one. */
  DATABASE_URL: z.string().optional(),
  /** A RabbitMQ for the local broker; without it, an in-process queue with the same rules. */
  RABBITMQ_URL: z.string().optional(),
  /** Prefix for the broker's exchange and queue names on RabbitMQ, to keep several systems apart. */
  RABBITMQ_QUEUE_PREFIX: z.string().default(''),
  BROKER_PORT: z.coerce.number().int().min(0).max(65535).default(8070),
  MAIL_SMTP_PORT: z.coerce.number().int().min(0).max(65535).default(1025),
  MAIL_WEB_PORT: z.coerce.number().int().min(0).max(65535).default(8025),
  EMBEDDED_PG_PORT: z.coerce.number().int().min(0).max(65535).default(54329),
  LOCAL_DATA_DIR: z.string().default('.data'),
  /** How the console shows the functions' logs: `pretty` for people, `json` as written; default: pretty on a terminal. */
  LOG_FORMAT: z.enum(['pretty', 'json']).optional(),
  /** Host name printed in URLs (the runner listens on 127.0.0.1 either way). */
  PUBLIC_HOST: z.string().default('localhost'),
});

export type RunnerConfig = z.output<typeof runnerSchema>;

export function parseRunnerConfig(env: NodeJS.ProcessEnv): RunnerConfig {
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const result = runnerSchema.safeParse(present);
  if (!result.success) {
    throw new Error(`Invalid runner settings:\n${result.error.issues.map((issue) => `  - ${issue.path.join('.')} ${issue.message}`).join('\n')}`);
  }
  return result.data;
}

export function runnerVariableNames(): string[] {
  return Object.keys(runnerSchema.shape);
}
