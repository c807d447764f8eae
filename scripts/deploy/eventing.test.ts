import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import { BROKER, EVENT_CATALOGUE, eventDataSchemas, eventPublishers, type EventEntry } from '../../functions/contracts/events/catalogue.js';
import type { FunctionName } from '../../functions/inventory.js';
import { eventWebhooks } from '../codegen/openapi/webhooks.js';
import { parseEventingDefinitions } from '../../runner/broker/eventing-definitions.js';
import { INVENTORY } from '../../functions/inventory.js';
import { SMTP_TIMEOUTS_MS } from '../../functions/shared/runtime/dependencies.js';
import {
  backoffNote,
  EVENTING_DIR,
  eventingDrift,
  eventingFiles,
  GENERATED_HEADER,
  longestDeliveryMs,
  RABBITMQ_CONSUMER_TIMEOUT_MS,
  retryWaitsMs,
  secondsDurationMs,
  writeEventing,
} from './eventing.js';
import { POD_LABELS } from './namespace.js';
import { networkPolicies } from './network-policies.js';

const ROOT = join(EVENTING_DIR, '..');

const folders: string[] = [];
afterEach(async () => {
  for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
});

/** A copy of eventing/ in a folder of its own. */
async function copyOfEventing(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'accounts-eventing-'));
  folders.push(folder);
  await cp(EVENTING_DIR, folder, { recursive: true });
  return folder;
}

const byFile = (catalogue: readonly EventEntry[]) => new Map(eventingFiles(catalogue).map(({ file, text }) => [file, text]));

describe('eventing/ and the event catalogue', () => {
  it('is byte for byte what `npm run manifests` writes from the catalogue (run it and commit)', async () => {
    expect(await eventingDrift()).toEqual([]);
  });

  it('notices a generated file edited by hand, one missing and one the catalogue no longer has, and a run puts them right', async () => {
    const folder = await copyOfEventing();
    const trigger = join(folder, '310-trigger-verification-email.yaml');
    await writeFile(trigger, (await readFile(trigger, 'utf8')).replace('retry: 10', 'retry: 11'));
    await rm(join(folder, '200-broker.yaml'));
    await writeFile(join(folder, '390-trigger-gone.yaml'), `#${GENERATED_HEADER}\nkind: Trigger\n`);
    const pingSource = await readFile(join(folder, '400-pingsource-outbox-relay.yaml'), 'utf8');

    expect(await eventingDrift(folder)).toEqual([
      '200-broker.yaml is missing',
      '310-trigger-verification-email.yaml differs from what the catalogue gives',
      '390-trigger-gone.yaml is not in the catalogue any more',
    ]);
    await writeEventing(folder);
    expect(await eventingDrift(folder)).toEqual([]);
    expect(await readdir(folder)).not.toContain('390-trigger-gone.yaml');
    expect(await readFile(join(folder, '400-pingsource-outbox-relay.yaml'), 'utf8'), 'the hand-written files stay as they are').toBe(pingSource);
  });

  it('gives every Trigger the delivery of its entry, and says its waits', () => {
    const files = byFile(EVENT_CATALOGUE);
    const trigger = parse(files.get('300-trigger-login-email-notification.yaml') as string);
    expect(trigger.spec).toEqual({
      broker: BROKER,
      filter: { attributes: { type: 'user_login_event' } },
      subscriber: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'notify-login-email' } },
      delivery: {
        retry: 10,
        backoffPolicy: 'exponential',
        backoffDelay: 'PT0.5S',
        timeout: 'PT30S',
        deadLetterSink: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'notify-dead-letter' } },
      },
    });
    expect(files.get('300-trigger-login-email-notification.yaml')).toContain(
      '# 1 s, 2 s, 4 s, 8 s, 16 s, 32 s, 64 s, 128 s, 256 s, 512 s between tries (17 min in all).\n    backoffDelay: PT0.5S',
    );
    const delivery = EVENT_CATALOGUE[0].delivery;
    expect(backoffNote({ ...delivery, retry: 3, backoffDelay: 'PT1S' })).toBe('2 s, 4 s, 8 s between tries.');
    expect(backoffNote({ ...delivery, backoffPolicy: 'linear', retry: 3, backoffDelay: 'PT2S' })).toBe('2 s, 4 s, 6 s between tries.');
    expect(backoffNote({ ...delivery, backoffDelay: 'PT1M' })).toBe('PT1M per retry, doubled at each one.');
  });


  it('names the Broker the Makefile waits for', async () => {
    expect(await readFile(join(ROOT, 'Makefile'), 'utf8')).toContain(`broker/${BROKER}\n`);
  });

  it("keeps docs/deploying.md's move from the old Broker in step with the network policies it copies and deletes", async () => {
    const guide = await readFile(join(ROOT, 'docs/deploying.md'), 'utf8');
    const copied = [...guide.matchAll(/knative\/network\/(\d{3})-\*\.yaml/g)].map((match) => match[1]);
    expect(copied).toEqual(['240', '410', '500']);
    const policies = networkPolicies();
    const deleted = /networkpolicy ((?:old-broker-[\w-]+[\s\\]*)+)/.exec(guide)?.[1]?.split(/[\s\\]+/).filter(Boolean) ?? [];
    const names = copied.map((prefix) => {
      const policy = policies.find((candidate) => candidate.file.startsWith(`${prefix}-`));
      // Each selects the broker's pods by the label the guide's sed rewrites.
      expect(JSON.stringify(policy), prefix).toContain(`"eventing.knative.dev/broker":"${BROKER}"`);
      return `old-broker-${policy?.name}`;
    });
    expect(deleted).toEqual(names);
  });
});

/** Deliveries one consumer can take at once: each holds a database connection through its send, so dbPoolMax per instance (or fewer, by containerConcurrency), times maxScale. */
function deliveriesAtOnce(consumer: string): number {
  const spec = INVENTORY.find((candidate) => candidate.name === consumer);
  if (!spec) throw new Error(`${consumer} is not in the inventory`);
  const perInstance = spec.containerConcurrency > 0 ? Math.min(spec.containerConcurrency, spec.dbPoolMax) : spec.dbPoolMax;
  return perInstance * spec.maxScale;
}

describe('the delivery of every Trigger, sized for an outage of the mail server', () => {
  const triggers = EVENT_CATALOGUE.flatMap((entry) => entry.consumers.map((consumer) => ({ entry, consumer })));

  it.each(triggers.map(({ entry, consumer }) => [consumer.trigger, entry, consumer.function] as const))(
    '%s keeps retrying for 10 minutes at least, each try cut at its timeout, all before RabbitMQ takes the message back',
    (_trigger, entry, consumer) => {
      const waits = retryWaitsMs(entry.delivery).reduce((sum, wait) => sum + wait, 0);
      expect(waits).toBeGreaterThanOrEqual(10 * 60_000);
      const timeout = secondsDurationMs(entry.delivery.timeout ?? '');
      expect(timeout).toBeLessThan(waits);
      // The mail server's slowest answer fails inside one try, so the function answers 503 rather than the broker cutting it off.
      expect(SMTP_TIMEOUTS_MS.connectionTimeout + SMTP_TIMEOUTS_MS.greetingTimeout + SMTP_TIMEOUTS_MS.socketTimeout).toBeLessThan(timeout);
      expect(INVENTORY.find((spec) => spec.name === consumer)?.requestSeconds, 'the function may answer for as long as a try lasts').toBeGreaterThanOrEqual(timeout / 1000);
      expect(longestDeliveryMs(entry.delivery)).toBeLessThan(RABBITMQ_CONSUMER_TIMEOUT_MS);
    },
  );

  it.each(triggers.map(({ entry, consumer }) => [consumer.trigger, entry.delivery.parallelism, consumer.function] as const))(
    '%s sends at most %d events at once, what %s can take at its largest',
    (_trigger, parallelism, consumer) => {
      expect(parallelism).toBeGreaterThan(1);
      expect(parallelism).toBeLessThanOrEqual(deliveriesAtOnce(consumer));
    },
  );

  it('counts the longest delivery as the RabbitMQ broker makes it: every wait, and every try at its timeout', () => {
    expect(longestDeliveryMs({ ...EVENT_CATALOGUE[0].delivery, retry: 2, backoffDelay: 'PT1S', timeout: 'PT10S' })).toBe(2_000 + 4_000 + 3 * 10_000);
    expect(longestDeliveryMs({ ...EVENT_CATALOGUE[0].delivery, retry: 11 }), 'one more retry outlasts the consumer timeout').toBeGreaterThan(RABBITMQ_CONSUMER_TIMEOUT_MS);
  });

  it('runs RabbitMQ on three nodes with the consumer timeout the retries are sized for', () => {
    const cluster = parse(byFile(EVENT_CATALOGUE).get('100-rabbitmq-cluster.yaml') as string);
    expect(cluster.kind).toBe('RabbitmqCluster');
    expect(cluster.spec.replicas).toBe(3);
    expect(cluster.spec.rabbitmq.additionalConfig).toContain(`consumer_timeout = ${RABBITMQ_CONSUMER_TIMEOUT_MS}`);
    expect(parse(byFile(EVENT_CATALOGUE).get('kustomization.yaml') as string).resources).toContain('100-rabbitmq-cluster.yaml');
  });
});

describe('a new event type', () => {
  const helloEventData = z.strictObject({ message: z.string().min(1) }).meta({ description: 'What hello says.', examples: [{ message: 'hello' }] });
  /** One entry and its data schema: nothing else is written by hand. */
  const hello: EventEntry = {
    type: 'hello_event',
    dataschema: 'https://knative-accounts.dev/schemas/events/hello_event/v1.json',
    data: helloEventData,
    dataName: 'HelloEventData',
    authenticity: { kind: 'none' },
    when: 'someone says hello',
    time: 'When it was said.',
    producers: ['users-get' as FunctionName],
    consumers: [{ function: 'notify-hello' as FunctionName, trigger: 'hello-notice', does: 'says hello back' }],
    delivery: { ...EVENT_CATALOGUE[0].delivery, retry: 2, timeout: 'PT10S' },
  };
  const catalogue = [...EVENT_CATALOGUE, hello];

  it('gets its Trigger, in the kustomization, with its delivery, which the local broker follows', () => {
    const files = byFile(catalogue);
    const before = byFile(EVENT_CATALOGUE);
    const added = [...files.keys()].filter((file) => !before.has(file));
    expect(added).toEqual(['340-trigger-hello-notice.yaml']);
    const trigger = parse(files.get('340-trigger-hello-notice.yaml') as string);
    expect(trigger).toMatchObject({
      kind: 'Trigger',
      metadata: { name: 'hello-notice' },
      spec: { broker: BROKER, filter: { attributes: { type: 'hello_event' } }, subscriber: { ref: { name: 'notify-hello' } }, delivery: { retry: 2, timeout: 'PT10S' } },
    });
    expect(parse(files.get('kustomization.yaml') as string).resources).toContain('340-trigger-hello-notice.yaml');

    const definitions = parseEventingDefinitions([...files].map(([file, text]) => ({ file, text })));
    expect(definitions.triggers.find((each) => each.filter['type'] === 'hello_event')).toMatchObject({
      name: 'hello-notice',
      subscriber: { ref: { name: 'notify-hello' } },
      delivery: { retry: 2, backoffDelayMs: 500, timeoutMs: 10_000 },
      parallelism: 10,
    });
  });

  it('makes its producers publishers: the SinkBinding selects them by the label the Services get', () => {
    expect(eventPublishers(EVENT_CATALOGUE)).not.toContain('users-get');
    expect(eventPublishers(catalogue)).toContain('users-get');
    const binding = parse(byFile(catalogue).get('500-sinkbinding-event-publishers.yaml') as string);
    expect(binding.spec.subject.selector).toEqual({ matchLabels: { [POD_LABELS.publishesEvents]: 'true' } });
    expect(binding.spec.sink.ref.name).toBe(BROKER);
  });

  it('gets its webhook in the API document, with its data schema and its example', () => {
    const webhooks = eventWebhooks({ schemaRef: (name) => ({ $ref: name }), problemResponse: (problem) => ({ status: problem.status }) }, catalogue);
    expect(Object.keys(webhooks)).toEqual([...EVENT_CATALOGUE.map((entry) => entry.type), 'hello_event']);
    const webhook = webhooks['hello_event']?.post as any;
    expect(webhook['x-knative']).toEqual({ broker: BROKER, triggers: ['hello-notice'], subscribers: ['notify-hello'], deadLetterSink: 'notify-dead-letter', publishers: ['users-get', 'outbox-relay'] });
    expect(webhook.requestBody.content['application/json']).toEqual({ schema: { $ref: 'HelloEventData' }, examples: { example: { summary: "A hello_event event's data", value: { message: 'hello' } } } });
    expect(webhook.parameters.map((parameter: any) => parameter.name)).toEqual(['ce-specversion', 'ce-id', 'ce-type', 'ce-source', 'ce-time', 'ce-dataschema', 'ce-traceparent']);
    expect(webhook.parameters.find((parameter: any) => parameter.name === 'ce-source').schema).toEqual({ type: 'string', const: '/functions/users-get' });
    expect(webhook.description).toContain('Not authenticated');
    // The waits as the RabbitMQ broker makes them: 0.5 s doubled before the first retry, and again before the second.
    expect(webhook.description).toContain('up to 2 retries with exponential backoff (waits of 1 s up to 2 s, 3 s in all), each try cut after 10 s');
    expect(eventDataSchemas(catalogue)).toContainEqual(['HelloEventData', helloEventData]);
  });
});
