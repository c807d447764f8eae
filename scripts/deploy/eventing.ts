import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Document, isMap, isScalar, type YAMLMap } from 'yaml';
import { BROKER, EVENT_CATALOGUE, eventPublishers, type EventEntry } from '../../functions/contracts/events/catalogue.js';
import { NAMESPACE, POD_LABELS, RABBITMQ_CLUSTER } from './namespace.js';

/**
 * `npm run manifests` (after knative/): writes what eventing/ holds about events from the event
 * catalogue (functions/contracts/events/catalogue.ts): the RabbitMQ cluster (its consumer timeout
 * must outlast the Triggers' retries), the Broker, one Trigger per consumer, the SinkBinding that
 * gives the publishers K_SINK, the EventPolicy that lets only them send, and the kustomization. The
 * broker's config and the PingSource are written by hand and kept as they are. The files are committed; a test fails when they and the catalogue disagree.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const EVENTING_DIR = join(ROOT, 'eventing');

/** The first line of every file this writes: how it knows its own files from the hand-written ones. */
export const GENERATED_HEADER = ' Generated from functions/contracts/events/catalogue.ts by `npm run manifests`; edit the catalogue, not this file.';

/** The hand-written files of eventing/, in apply order around the generated ones. */
const HAND_WRITTEN = { before: ['150-rabbitmq-broker-config.yaml'], after: ['400-pingsource-outbox-relay.yaml'] } as const;
/**
 * RabbitMQ nodes: three, so the broker's quorum queues (150-rabbitmq-broker-config.yaml) keep a
 * majority, and so every accepted event, through the loss or the rolling restart of one node.
 */
export const RABBITMQ_REPLICAS = 3;
/**
 * How long RabbitMQ lets a consumer hold a message unacknowledged before it closes the channel and
 * redelivers it (RabbitMQ's default, pinned here): the Trigger dispatcher holds each message through
 * all its retries, so a Trigger's longest delivery must end before it (eventing.test.ts checks it).
 */
export const RABBITMQ_CONSUMER_TIMEOUT_MS = 30 * 60 * 1000;
/** The RabbitmqBrokerConfig of 150-rabbitmq-broker-config.yaml. */
const BROKER_CONFIG = 'accounts-broker-config';
const SINK_BINDING = 'event-publishers';
const PARALLELISM_ANNOTATION = 'rabbitmq.eventing.knative.dev/parallelism';
/** make deploy applies what carries this label only where Knative Eventing's authentication-oidc is on. */
const REQUIRES_FEATURE = 'accounts.knative.dev/requires-feature';

export interface EventingFile {
  readonly file: string;
  readonly text: string;
}

const serviceRef = (name: string) => ({ ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name } });
const brokerRef = () => ({ apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', name: BROKER });

/** The object as YAML, `comments` above it, each `notes` entry (a path of keys) as a comment above that key. */
function render(object: Record<string, unknown>, comments: readonly string[], notes: readonly (readonly [readonly (string | number)[], string])[] = []): string {
  const document = new Document(object);
  for (const [path, note] of notes) {
    const parent = document.getIn(path.slice(0, -1), true);
    const key = path[path.length - 1];
    const pair = isMap(parent) ? (parent as YAMLMap).items.find((item) => isScalar(item.key) && item.key.value === key) : undefined;
    if (!pair || !isScalar(pair.key)) throw new Error(`no key ${path.join('.')} to comment`);
    pair.key.commentBefore = ` ${note}`;
  }
  (document.contents as YAMLMap).commentBefore = [GENERATED_HEADER, ...comments.map((line) => ` ${line}`)].join('\n');
  return document.toString({ lineWidth: 0 });
}

/** Trigger files are numbered from 300 in catalogue order, 10 apart, in apply order after the Broker. */
export function triggerFile(index: number, trigger: string): string {
  return `${300 + 10 * index}-trigger-${trigger}.yaml`;
}

function renderRabbitmqCluster(): string {
  return render(
    {
      apiVersion: 'rabbitmq.com/v1beta1',
      kind: 'RabbitmqCluster',
      metadata: { name: RABBITMQ_CLUSTER },
      spec: {
        replicas: RABBITMQ_REPLICAS,
        rabbitmq: { additionalConfig: `consumer_timeout = ${RABBITMQ_CONSUMER_TIMEOUT_MS}\n` },
        persistence: { storage: '5Gi' },
        resources: { requests: { cpu: '250m', memory: '512Mi' }, limits: { cpu: '1', memory: '1Gi' } },
      },
    },
    ['The RabbitMQ server behind the broker, run by the RabbitMQ cluster operator.'],
    [
      [['spec', 'replicas'], 'Three nodes: a quorum queue keeps its majority, and its events, while one node is down or restarting.'],
      [['spec', 'rabbitmq'], "Longer than any Trigger's retries: the dispatcher keeps each message unacknowledged until it is delivered or dead-lettered."],
    ],
  );
}

function renderBroker(catalogue: readonly EventEntry[]): string {
  return render(
    {
      apiVersion: 'eventing.knative.dev/v1',
      kind: 'Broker',
      metadata: { name: BROKER, annotations: { 'eventing.knative.dev/broker.class': 'RabbitMQBroker' } },
      spec: {
        config: { apiVersion: 'eventing.knative.dev/v1alpha1', kind: 'RabbitmqBrokerConfig', name: BROKER_CONFIG },
        delivery: { deadLetterSink: serviceRef(catalogue[0]?.delivery.deadLetterSink ?? 'notify-dead-letter') },
      },
    },
    ['The one Broker, named for what it carries: every event type of the catalogue, each to the Trigger of each of its consumers.'],
    [[['spec', 'delivery', 'deadLetterSink'], 'Events no Trigger could deliver end here rather than vanish.']],
  );
}

/** ISO-8601 durations of seconds only (`PT1S`, `PT0.5S`, `PT30S`) in milliseconds; NaN for any other. */
export function secondsDurationMs(duration: string): number {
  return Number(/^PT(\d+(?:\.\d+)?)S$/.exec(duration)?.[1] ?? Number.NaN) * 1000;
}

/**
 * The waits before each retry, in ms, as the RabbitMQ broker's dispatcher makes them (cloudevents
 * sdk-go's retry: `delay·2ⁿ` before retry n = 1, 2 … when exponential, `delay·n` when linear).
 */
export function retryWaitsMs(delivery: EventEntry['delivery']): number[] {
  const delay = secondsDurationMs(delivery.backoffDelay);
  return Array.from({ length: delivery.retry }, (_, index) => delay * (delivery.backoffPolicy === 'exponential' ? 2 ** (index + 1) : index + 1));
}

/**
 * The longest a Trigger keeps one event before it is delivered or dead-lettered: every wait between
 * tries plus every try cut at its timeout (a missing timeout counts as the broker's 30 s).
 */
export function longestDeliveryMs(delivery: EventEntry['delivery']): number {
  const tries = (delivery.retry + 1) * secondsDurationMs(delivery.timeout ?? 'PT30S');
  return retryWaitsMs(delivery).reduce((sum, wait) => sum + wait, 0) + tries;
}

/** The waits between tries a delivery policy gives (`1 s, 2 s, 4 s, 8 s, 16 s between tries.`), when its delay is in seconds. */
export function backoffNote(delivery: EventEntry['delivery']): string {
  const step = delivery.backoffPolicy === 'exponential' ? 'doubled' : 'added';
  if (Number.isNaN(secondsDurationMs(delivery.backoffDelay))) return `${delivery.backoffDelay} per retry, ${step} at each one.`;
  const waits = retryWaitsMs(delivery);
  const total = waits.reduce((sum, wait) => sum + wait, 0) / 1000;
  const span = total >= 120 ? ` (${Math.round(total / 60)} min in all)` : '';
  return `${waits.map((wait) => `${wait / 1000} s`).join(', ')} between tries${span}.`;
}

function renderTrigger(entry: EventEntry, consumer: EventEntry['consumers'][number]): string {
  const d = entry.delivery;
  return render(
    {
      apiVersion: 'eventing.knative.dev/v1',
      kind: 'Trigger',
      metadata: { name: consumer.trigger, annotations: { [PARALLELISM_ANNOTATION]: String(d.parallelism) } },
      spec: {
        broker: BROKER,
        filter: { attributes: { type: entry.type } },
        subscriber: serviceRef(consumer.function),
        delivery: {
          retry: d.retry,
          backoffPolicy: d.backoffPolicy,
          backoffDelay: d.backoffDelay,
          ...(d.timeout ? { timeout: d.timeout } : {}),
          deadLetterSink: serviceRef(d.deadLetterSink),
        },
      },
    },
    [
      `${entry.type} to ${consumer.function}, which ${consumer.does}.`,
      'Named after the kind of message it sends: its queue is the message side of the naming scheme.',
    ],
    [
      [['metadata', 'annotations', PARALLELISM_ANNOTATION], "Concurrent deliveries from this Trigger's queue (RabbitMQ broker dispatcher workers)."],
      [['spec', 'filter'], 'The RabbitMQ broker filters on spec.filter.attributes (exact match) and ignores spec.filters.'],
      [['spec', 'delivery', 'backoffDelay'], backoffNote(d)],
    ],
  );
}

function renderSinkBinding(catalogue: readonly EventEntry[]): string {
  return render(
    {
      apiVersion: 'sources.knative.dev/v1',
      kind: 'SinkBinding',
      metadata: { name: SINK_BINDING },
      spec: {
        subject: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', selector: { matchLabels: { [POD_LABELS.publishesEvents]: 'true' } } },
        sink: { ref: brokerRef() },
      },
    },
    [
      "Gives every Service labelled as an event publisher K_SINK, the broker's ingress address: the catalogue's producers",
      `and the outbox relay (${eventPublishers(catalogue).join(', ')}), which npm run manifests labels so.`,
    ],
  );
}

function renderEventPolicy(): string {
  return render(
    {
      apiVersion: 'eventing.knative.dev/v1alpha1',
      kind: 'EventPolicy',
      metadata: { name: `${BROKER}-publishers`, labels: { [REQUIRES_FEATURE]: 'authentication-oidc' } },
      spec: {
        to: [{ ref: brokerRef() }],
        from: [{ ref: { apiVersion: 'sources.knative.dev/v1', kind: 'SinkBinding', name: SINK_BINDING, namespace: NAMESPACE } }],
      },
    },
    [
      `Only the event publishers (the Services the SinkBinding binds) may send to the Broker ${BROKER}.`,
      "Enforced only where Knative Eventing's authentication-oidc feature is on (and the broker class checks tokens); inert otherwise.",
    ],
    [
      [['metadata', 'labels', REQUIRES_FEATURE], "Eventing's webhook refuses an EventPolicy while authentication-oidc is off: make deploy applies this only when it is on."],
      [
        ['spec', 'from'],
        `The identity of the SinkBinding that gives them K_SINK: Knative resolves it to system:serviceaccount:${NAMESPACE}:${SINK_BINDING}-oidc-sources.knative.dev-sinkbinding.`,
      ],
    ],
  );
}

/** The files of eventing/ the catalogue gives, by name, the kustomization last. */
export function eventingFiles(catalogue: readonly EventEntry[] = EVENT_CATALOGUE): EventingFile[] {
  const consumers = catalogue.flatMap((entry) => entry.consumers.map((consumer) => ({ entry, consumer })));
  const files: EventingFile[] = [
    { file: '100-rabbitmq-cluster.yaml', text: renderRabbitmqCluster() },
    { file: '200-broker.yaml', text: renderBroker(catalogue) },
    ...consumers.map(({ entry, consumer }, index) => ({ file: triggerFile(index, consumer.trigger), text: renderTrigger(entry, consumer) })),
    { file: `500-sinkbinding-${SINK_BINDING}.yaml`, text: renderSinkBinding(catalogue) },
    { file: `600-eventpolicy-${BROKER}.yaml`, text: renderEventPolicy() },
  ];
  const resources = [...HAND_WRITTEN.before, ...files.map((each) => each.file), ...HAND_WRITTEN.after].sort();
  const kustomization = render({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', namespace: NAMESPACE, resources }, [
    '`kubectl kustomize eventing` / `kubectl apply -k eventing`: the RabbitMQ cluster, the broker config, the Broker, one',
    'Trigger per consumer of each event type, the PingSource, the SinkBinding and the EventPolicy, in apply order (make',
    'deploy applies the EventPolicy only where authentication-oidc is on; see its label).',
  ]);
  return [...files, { file: 'kustomization.yaml', text: kustomization }];
}

/** The files of `dir` this generator wrote (their first line is its header), by name. */
export async function generatedFilesIn(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const file of (await readdir(dir)).filter((name) => name.endsWith('.yaml')).sort()) {
    if ((await readFile(join(dir, file), 'utf8')).startsWith(`#${GENERATED_HEADER}\n`)) found.push(file);
  }
  return found;
}

/** Replaces the generated files of `dir` (a Trigger the catalogue no longer has goes too) with the catalogue's. */
export async function writeEventing(dir: string = EVENTING_DIR, catalogue: readonly EventEntry[] = EVENT_CATALOGUE): Promise<string[]> {
  for (const file of await generatedFilesIn(dir)) await rm(join(dir, file));
  const files = eventingFiles(catalogue);
  for (const { file, text } of files) await writeFile(join(dir, file), text);
  return files.map(({ file }) => file);
}

/**
 * How `dir` differs from what the catalogue gives: a generated file missing, edited, or left from an
 * entry the catalogue no longer has. Empty when they agree.
 */
export async function eventingDrift(dir: string = EVENTING_DIR, catalogue: readonly EventEntry[] = EVENT_CATALOGUE): Promise<string[]> {
  const expected = eventingFiles(catalogue);
  const problems: string[] = [];
  for (const { file, text } of expected) {
    const committed = await readFile(join(dir, file), 'utf8').catch(() => undefined);
    if (committed === undefined) problems.push(`${file} is missing`);
    else if (committed !== text) problems.push(`${file} differs from what the catalogue gives`);
  }
  for (const file of await generatedFilesIn(dir)) if (!expected.some((each) => each.file === file)) problems.push(`${file} is not in the catalogue any more`);
  return problems;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const written = await writeEventing();
  process.stdout.write(`wrote ${written.length} files into ${EVENTING_DIR} from the event catalogue\n`);
}
