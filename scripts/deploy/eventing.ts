import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Document, isMap, isScalar, type YAMLMap } from 'yaml';
import { BROKER, EVENT_CATALOGUE, eventPublishers, type EventEntry } from '../../functions/contracts/events/catalogue.js';
import { NAMESPACE, POD_LABELS } from './namespace.js';

/**
 * `npm run manifests` (after knative/): writes what eventing/ holds about events from the event
 * catalogue (functions/contracts/events/catalogue.ts): the Broker, one Trigger per consumer, the
 * SinkBinding that gives the publishers K_SINK, the EventPolicy that lets only them send, and the
 * kustomization. The RabbitMQ cluster, the broker's config and the PingSource are written by hand and
 * kept as they are. The files are committed; a test fails when they and the catalogue disagree.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const EVENTING_DIR = join(ROOT, 'eventing');

/** The first line of every file this writes: how it knows its own files from the hand-written ones. */
export const GENERATED_HEADER = ' Generated from functions/contracts/events/catalogue.ts by `npm run manifests`; edit the catalogue, not this file.';

/** The hand-written files of eventing/, in apply order around the generated ones. */
const HAND_WRITTEN = { before: ['100-rabbitmq-cluster.yaml', '150-rabbitmq-broker-config.yaml'], after: ['400-pingsource-outbox-relay.yaml'] } as const;
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

/** The waits between tries a delivery policy gives (`0.5 s, 1 s, 2 s, 4 s, 8 s between tries.`), when its delay is in seconds. */
export function backoffNote(delivery: EventEntry['delivery']): string {
  const seconds = Number(/^PT(\d+(?:\.\d+)?)S$/.exec(delivery.backoffDelay)?.[1] ?? Number.NaN);
  const step = delivery.backoffPolicy === 'exponential' ? 'doubled' : 'added';
  if (Number.isNaN(seconds)) return `${delivery.backoffDelay} before the first retry, ${step} at each one.`;
  const waits = Array.from({ length: delivery.retry }, (_, index) => seconds * (delivery.backoffPolicy === 'exponential' ? 2 ** index : index + 1));
  return `${waits.map((wait) => `${wait} s`).join(', ')} between tries.`;
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
