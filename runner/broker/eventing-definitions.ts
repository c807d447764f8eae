import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';

/**
 * The Knative eventing objects the local broker needs (Broker, Trigger, PingSource), read from the
 * same YAML files the cluster applies. Other kinds (RabbitmqCluster, RabbitmqBrokerConfig,
 * SinkBinding, …) are skipped.
 */

export interface ServiceRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
}

/**
 * A Knative Destination: an object reference, a URI, or both (then the URI is resolved against
 * the object's address, as Knative does).
 */
export type Destination =
  | { readonly ref: ServiceRef; readonly uri?: string }
  | { readonly ref?: undefined; readonly uri: string };

export type BackoffPolicy = 'exponential' | 'linear';

export interface DeliveryDefinition {
  /** Retries after the first try (Knative: absent means no retry). */
  readonly retry: number;
  readonly backoffPolicy: BackoffPolicy;
  readonly backoffDelayMs: number;
  /** `delivery.timeout` of one try, when set. */
  readonly timeoutMs: number | undefined;
  readonly deadLetterSink: Destination | undefined;
}

export interface BrokerDefinition {
  readonly file: string;
  readonly name: string;
  readonly deadLetterSink: Destination | undefined;
  readonly delivery: Partial<DeliveryDefinition>;
}

export interface TriggerDefinition {
  readonly file: string;
  readonly name: string;
  readonly broker: string;
  /** `spec.filter.attributes`: every one must equal the event's attribute of that name. */
  readonly filter: Readonly<Record<string, string>>;
  /** True when the Trigger also has `spec.filters`, which the RabbitMQ broker ignores. */
  readonly ignoredFilters: boolean;
  readonly subscriber: Destination;
  readonly delivery: DeliveryDefinition;
  /** Concurrent deliveries from the Trigger's queue (`rabbitmq.eventing.knative.dev/parallelism`). */
  readonly parallelism: number;
}

export interface PingSourceDefinition {
  readonly file: string;
  readonly name: string;
  readonly schedule: string;
  readonly timezone: string | undefined;
  readonly contentType: string | undefined;
  readonly data: string | undefined;
  readonly sink: Destination;
}

export interface EventingDefinitions {
  readonly brokers: readonly BrokerDefinition[];
  readonly triggers: readonly TriggerDefinition[];
  readonly pingSources: readonly PingSourceDefinition[];
  /** The namespace a Kustomization among the files applies them to (PingSource events name it in their source); undefined when none does. */
  readonly namespace: string | undefined;
}

export const PARALLELISM_ANNOTATION = 'rabbitmq.eventing.knative.dev/parallelism';

/** Knative's defaults when `delivery` leaves a field out. */
const DEFAULT_DELIVERY = { retry: 0, backoffPolicy: 'exponential', backoffDelayMs: 0 } as const;

const DURATION =
  /^P(?!$)(?:(\d+(?:[.,]\d+)?)W)?(?:(\d+(?:[.,]\d+)?)D)?(?:T(?=\d)(?:(\d+(?:[.,]\d+)?)H)?(?:(\d+(?:[.,]\d+)?)M)?(?:(\d+(?:[.,]\d+)?)S)?)?$/;

/**
 * An ISO-8601 duration as Knative accepts for `backoffDelay` and `timeout` (`PT0.5S`, `PT2S`,
 * `PT1M`, `P1DT2H`), in milliseconds; `undefined` when the text is not one. Years and months are
 * refused: their length depends on the calendar.
 */
export function parseIsoDuration(text: string): number | undefined {
  const match = DURATION.exec(text);
  if (!match) return undefined;
  const unitsMs = [7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000];
  let total = 0;
  for (const [index, unitMs] of unitsMs.entries()) {
    const part = match[index + 1];
    if (part !== undefined) total += Number(part.replace(',', '.')) * unitMs;
  }
  return Math.round(total);
}

const isoDuration = z.string().transform((text, ctx) => {
  const ms = parseIsoDuration(text);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not an ISO-8601 duration such as PT0.5S, PT2S or PT1M` });
    return z.NEVER;
  }
  return ms;
});

const refSchema = z.object({
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  name: z.string().min(1),
});

const destinationSchema = z
  .object({ ref: refSchema.optional(), uri: z.string().min(1).optional() })
  .refine((destination) => destination.ref !== undefined || destination.uri !== undefined, {
    message: 'needs a ref or a uri',
  })
  .transform((destination): Destination =>
    destination.ref
      ? { ref: destination.ref, ...(destination.uri !== undefined ? { uri: destination.uri } : {}) }
      : { uri: destination.uri ?? '' },
  );

const deliverySchema = z.object({
  retry: z.number().int().min(0).optional(),
  backoffPolicy: z.enum(['exponential', 'linear']).optional(),
  backoffDelay: isoDuration.optional(),
  timeout: isoDuration.optional(),
  deadLetterSink: destinationSchema.optional(),
});

const metadataSchema = z.object({
  name: z.string().min(1),
  annotations: z.record(z.string(), z.string()).optional(),
});

const brokerSchema = z.object({
  metadata: metadataSchema,
  spec: z.object({ delivery: deliverySchema.optional() }).optional(),
});

const parallelismSchema = z
  .string()
  .regex(/^\d+$/, 'must be a whole number written as a string, e.g. "4"')
  .transform(Number)
  .pipe(z.number().int().min(1).max(1000));

const triggerSchema = z.object({
  metadata: metadataSchema,
  spec: z.object({
    broker: z.string().min(1),
    filter: z.object({ attributes: z.record(z.string(), z.string()).optional() }).optional(),
    filters: z.array(z.unknown()).optional(),
    subscriber: destinationSchema,
    delivery: deliverySchema.optional(),
  }),
});

const pingSourceSchema = z.object({
  metadata: metadataSchema,
  spec: z.object({
    schedule: z.string().min(1),
    timezone: z.string().min(1).optional(),
    contentType: z.string().min(1).optional(),
    data: z.string().optional(),
    sink: destinationSchema,
  }),
});

const headerSchema = z.object({ apiVersion: z.string().min(1), kind: z.string().min(1) });
const kustomizationSchema = z.object({ namespace: z.string().min(1).optional() });

class EventingDefinitionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EventingDefinitionError';
  }
}

function parseOrThrow<T extends z.ZodType>(schema: T, value: unknown, where: string): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => `  - ${issue.path.length > 0 ? issue.path.join('.') : '(document)'}: ${issue.message}`);
  throw new EventingDefinitionError(`${where} is malformed:\n${lines.join('\n')}`);
}

function describe(file: string, index: number, value: unknown): string {
  const kind = typeof value === 'object' && value !== null && 'kind' in value ? String(value.kind) : 'object';
  const metadata = typeof value === 'object' && value !== null && 'metadata' in value ? value.metadata : undefined;
  const name = typeof metadata === 'object' && metadata !== null && 'name' in metadata ? ` "${String(metadata.name)}"` : '';
  return `${file} (document ${index + 1}, ${kind}${name})`;
}

function mergedDelivery(trigger: Partial<DeliveryDefinition> | undefined, broker: BrokerDefinition): DeliveryDefinition {
  // Field by field: what the Trigger sets wins, then the Broker's delivery, then Knative's default.
  return {
    retry: trigger?.retry ?? broker.delivery.retry ?? DEFAULT_DELIVERY.retry,
    backoffPolicy: trigger?.backoffPolicy ?? broker.delivery.backoffPolicy ?? DEFAULT_DELIVERY.backoffPolicy,
    backoffDelayMs: trigger?.backoffDelayMs ?? broker.delivery.backoffDelayMs ?? DEFAULT_DELIVERY.backoffDelayMs,
    timeoutMs: trigger?.timeoutMs ?? broker.delivery.timeoutMs,
    deadLetterSink: trigger?.deadLetterSink ?? broker.deadLetterSink,
  };
}

function toPartialDelivery(delivery: z.output<typeof deliverySchema> | undefined): Partial<DeliveryDefinition> {
  if (!delivery) return {};
  return {
    ...(delivery.retry !== undefined ? { retry: delivery.retry } : {}),
    ...(delivery.backoffPolicy !== undefined ? { backoffPolicy: delivery.backoffPolicy } : {}),
    ...(delivery.backoffDelay !== undefined ? { backoffDelayMs: delivery.backoffDelay } : {}),
    ...(delivery.timeout !== undefined ? { timeoutMs: delivery.timeout } : {}),
    ...(delivery.deadLetterSink !== undefined ? { deadLetterSink: delivery.deadLetterSink } : {}),
  };
}

/**
 * Parses YAML texts (file name → text, each possibly multi-document) into typed definitions.
 * Throws an error naming the file, the document and the field when something is malformed, or
 * when a Trigger names a Broker that no document defines.
 */
export function parseEventingDefinitions(files: readonly { readonly file: string; readonly text: string }[]): EventingDefinitions {
  const brokers: BrokerDefinition[] = [];
  const pendingTriggers: { file: string; where: string; parsed: z.output<typeof triggerSchema> }[] = [];
  const pingSources: PingSourceDefinition[] = [];
  let namespace: string | undefined;

  for (const { file, text } of files) {
    for (const [index, document] of parseAllDocuments(text).entries()) {
      if (document.errors.length > 0) {
        throw new EventingDefinitionError(`${file} (document ${index + 1}) is not valid YAML: ${document.errors[0]?.message ?? ''}`);
      }
      const value: unknown = document.toJS();
      if (value === null || value === undefined) continue;
      const where = describe(file, index, value);
      const header = parseOrThrow(headerSchema, value, where);
      const group = header.apiVersion.split('/')[0];
      if (header.kind === 'Broker' && group === 'eventing.knative.dev') {
        const parsed = parseOrThrow(brokerSchema, value, where);
        const delivery = toPartialDelivery(parsed.spec?.delivery);
        brokers.push({ file, name: parsed.metadata.name, deadLetterSink: delivery.deadLetterSink, delivery });
      } else if (header.kind === 'Trigger' && group === 'eventing.knative.dev') {
        pendingTriggers.push({ file, where, parsed: parseOrThrow(triggerSchema, value, where) });
      } else if (header.kind === 'PingSource' && group === 'sources.knative.dev') {
        const parsed = parseOrThrow(pingSourceSchema, value, where);
        pingSources.push({
          file,
          name: parsed.metadata.name,
          schedule: parsed.spec.schedule,
          timezone: parsed.spec.timezone,
          contentType: parsed.spec.contentType,
          data: parsed.spec.data,
          sink: parsed.spec.sink,
        });
      } else if (header.kind === 'Kustomization' && group === 'kustomize.config.k8s.io') {
        namespace = parseOrThrow(kustomizationSchema, value, where).namespace ?? namespace;
      }
    }
  }

  const triggers = pendingTriggers.map(({ file, where, parsed }): TriggerDefinition => {
    const broker = brokers.find((candidate) => candidate.name === parsed.spec.broker);
    if (!broker) {
      throw new EventingDefinitionError(`${where} is malformed:\n  - spec.broker: no Broker named "${parsed.spec.broker}" is defined`);
    }
    const annotation = parsed.metadata.annotations?.[PARALLELISM_ANNOTATION];
    const parallelism = annotation === undefined ? 1 : parseOrThrow(parallelismSchema, annotation, `${where} annotation ${PARALLELISM_ANNOTATION}`);
    return {
      file,
      name: parsed.metadata.name,
      broker: broker.name,
      filter: parsed.spec.filter?.attributes ?? {},
      ignoredFilters: parsed.spec.filters !== undefined,
      subscriber: parsed.spec.subscriber,
      delivery: mergedDelivery(toPartialDelivery(parsed.spec.delivery), broker),
      parallelism,
    };
  });

  for (const list of [brokers, triggers, pingSources] as const) {
    const seen = new Set<string>();
    for (const item of list) {
      if (seen.has(item.name)) throw new EventingDefinitionError(`${item.file}: "${item.name}" is defined twice`);
      seen.add(item.name);
    }
  }
  return { brokers, triggers, pingSources, namespace };
}

/**
 * The URL a Destination points at: a `ref` to a Knative Service goes through `resolveService`
 * (Service name → base URL), with `uri` resolved against it when both are set; a lone `uri` is
 * taken as it is. Throws for a `ref` to anything but a Knative Service.
 */
export function destinationUrl(destination: Destination, resolveService: (name: string) => string): string {
  if (destination.ref) {
    const { apiVersion, kind, name } = destination.ref;
    if (kind !== 'Service' || !apiVersion.startsWith('serving.knative.dev/')) {
      throw new Error(`refers to a ${kind} (${apiVersion}); only Knative Services (serving.knative.dev) can be reached locally`);
    }
    const base = resolveService(name);
    return destination.uri ? new URL(destination.uri, base).toString() : base;
  }
  return new URL(destination.uri).toString();
}

/** Reads every `*.yaml`/`*.yml` file of a folder (in name order) and parses it. */
export async function loadEventingDefinitions(dir: string): Promise<EventingDefinitions> {
  const names = (await readdir(dir)).filter((name) => /\.ya?ml$/.test(name)).sort();
  const files = await Promise.all(names.map(async (name) => ({ file: join(dir, name), text: await readFile(join(dir, name), 'utf8') })));
  return parseEventingDefinitions(files);
}
