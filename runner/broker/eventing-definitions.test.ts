import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BROKER as EVENT_BROKER } from '../../functions/contracts/events/catalogue.js';
import { destinationUrl, loadEventingDefinitions, parseEventingDefinitions, parseIsoDuration } from './eventing-definitions.js';
import { writeEventingDir } from '../../test/support/broker.js';

const EVENTING_DIR = fileURLToPath(new URL('../../eventing', import.meta.url));

const service = (name: string) => ({ ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name } });

const BROKER = `
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: events
spec:
  delivery:
    deadLetterSink:
      ref: { apiVersion: serving.knative.dev/v1, kind: Service, name: broker-dead-letter }
`;

const parse = (...texts: string[]) => parseEventingDefinitions(texts.map((text, index) => ({ file: `inline-${index + 1}.yaml`, text })));

describe('loadEventingDefinitions over eventing/', () => {
  it('reads the Broker, the Triggers and the PingSource and skips the other kinds', async () => {
    const definitions = await loadEventingDefinitions(EVENTING_DIR);
    expect(definitions.brokers).toEqual([
      expect.objectContaining({ name: EVENT_BROKER, deadLetterSink: service('notify-dead-letter') }),
    ]);
    // One Trigger per message, each its own queue, all with the same delivery: 10 retries from 0.5 s (30 s a try), dead letters kept.
    const trigger = (file: string, name: string, type: string, subscriber: string) => ({
      file: expect.stringMatching(new RegExp(`${file}$`)),
      name,
      broker: EVENT_BROKER,
      filter: { type },
      ignoredFilters: false,
      subscriber: service(subscriber),
      delivery: { retry: 10, backoffPolicy: 'exponential', backoffDelayMs: 500, timeoutMs: 30_000, deadLetterSink: service('notify-dead-letter') },
      parallelism: 10,
    });
    expect(definitions.triggers).toEqual([
      trigger('300-trigger-login-email-notification\\.yaml', 'login-email-notification', 'user_login_event', 'notify-login-email'),
      trigger('310-trigger-verification-email\\.yaml', 'verification-email', 'email_verification_requested', 'notify-verification-email'),
      trigger('320-trigger-password-reset-email\\.yaml', 'password-reset-email', 'password_reset_requested', 'notify-password-reset-email'),
      trigger('330-trigger-email-changed-notice\\.yaml', 'email-changed-notice', 'email_changed', 'notify-email-changed-email'),
    ]);
    expect(definitions.pingSources).toEqual([
      {
        file: expect.stringMatching(/400-pingsource-outbox-relay\.yaml$/),
        name: 'outbox-relay-schedule',
        schedule: '* * * * *',
        timezone: undefined,
        contentType: 'application/json',
        data: '{"reason":"scheduled"}',
        sink: service('outbox-relay'),
      },
    ]);
    // From kustomization.yaml: the cluster's PingSource names it in its events' source.
    expect(definitions.namespace).toBe('accounts');
  });

  it('reads every *.yaml file of another folder, multi-document files included', async () => {
    const trigger = `apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: all-events }
spec:
  broker: events
  subscriber: { uri: "http://127.0.0.1:9/hook" }
`;
    const folder = await writeEventingDir(`${BROKER}\n---\n${trigger}`);
    try {
      const definitions = await loadEventingDefinitions(folder.dir);
      expect(definitions.triggers.map((t) => t.name)).toEqual(['all-events']);
      expect(definitions.triggers[0]?.subscriber).toEqual({ uri: 'http://127.0.0.1:9/hook' });
    } finally {
      await folder.remove();
    }
  });
});

describe('parseEventingDefinitions', () => {
  const trigger = (spec: string, metadata = '') => `
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: t1
${metadata}
spec:
  broker: events
  subscriber:
    ref: { apiVersion: serving.knative.dev/v1, kind: Service, name: consumer }
${spec}`;

  it('applies Knative defaults: no retry, exponential, the Broker dead-letter sink, parallelism 1, no filter', () => {
    const [only] = parse(BROKER, trigger('')).triggers;
    expect(only).toMatchObject({
      filter: {},
      parallelism: 1,
      delivery: { retry: 0, backoffPolicy: 'exponential', backoffDelayMs: 0, deadLetterSink: service('broker-dead-letter') },
    });
  });

  it('reads linear backoff, a timeout, a uri dead-letter sink and the parallelism annotation', () => {
    const [only] = parse(
      BROKER,
      trigger(
        `  delivery:
    retry: 2
    backoffPolicy: linear
    backoffDelay: PT2S
    timeout: PT1M
    deadLetterSink: { uri: "http://dead.example/letters" }`,
        '  annotations:\n    rabbitmq.eventing.knative.dev/parallelism: "8"',
      ),
    ).triggers;
    expect(only).toMatchObject({
      parallelism: 8,
      delivery: { retry: 2, backoffPolicy: 'linear', backoffDelayMs: 2000, timeoutMs: 60_000, deadLetterSink: { uri: 'http://dead.example/letters' } },
    });
  });

  it('takes spec.filter.attributes and flags spec.filters, which the RabbitMQ broker ignores', () => {
    const [only] = parse(
      BROKER,
      trigger(`  filter:
    attributes: { type: user_login_event, source: auth-login }
  filters:
    - exact: { type: something_else }`),
    ).triggers;
    expect(only?.filter).toEqual({ type: 'user_login_event', source: 'auth-login' });
    expect(only?.ignoredFilters).toBe(true);
  });

  it('skips empty documents and kinds it does not need', () => {
    const definitions = parse(`# only a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\n---\n${BROKER}`);
    expect(definitions.brokers.map((b) => b.name)).toEqual(['events']);
    expect(definitions.triggers).toEqual([]);
  });

  it.each([
    ['a duration that is not ISO-8601', trigger('  delivery:\n    backoffDelay: 500ms'), /inline-2\.yaml \(document 1, Trigger "t1"\)[\s\S]*spec\.delivery\.backoffDelay: "500ms" is not an ISO-8601 duration/],
    ['an unknown backoff policy', trigger('  delivery:\n    backoffPolicy: random'), /spec\.delivery\.backoffPolicy/],
    ['a negative retry', trigger('  delivery:\n    retry: -1'), /spec\.delivery\.retry/],
    ['a subscriber with neither ref nor uri', trigger('').replace(/subscriber:\n.*\n/, 'subscriber: {}\n'), /spec\.subscriber: needs a ref or a uri/],
    ['a parallelism that is not a number', trigger('', '  annotations:\n    rabbitmq.eventing.knative.dev/parallelism: "many"'), /rabbitmq\.eventing\.knative\.dev\/parallelism[\s\S]*whole number/],
    ['a parallelism of 0', trigger('', '  annotations:\n    rabbitmq.eventing.knative.dev/parallelism: "0"'), /parallelism/],
    ['a filter value that is not a string', trigger('  filter:\n    attributes:\n      type: [a, b]'), /spec\.filter\.attributes\.type/],
    ['a Trigger of an unknown Broker', trigger('').replace('broker: events', 'broker: nowhere'), /spec\.broker: no Broker named "nowhere"/],
    ['a document without kind', 'apiVersion: v1\nmetadata: { name: x }', /inline-2\.yaml \(document 1, object "x"\) is malformed:\n {2}- kind:/],
    ['text that is not YAML', 'kind: [unclosed', /inline-2\.yaml \(document 1\) is not valid YAML/],
  ])('refuses %s, naming the file and the field', (_case, text, message) => {
    expect(() => parse(BROKER, text)).toThrow(message);
  });

  it('refuses two Triggers of the same name', () => {
    expect(() => parse(BROKER, trigger(''), trigger(''))).toThrow(/"t1" is defined twice/);
  });
});

describe('parseIsoDuration', () => {
  it.each([
    ['PT0.5S', 500],
    ['PT2S', 2000],
    ['PT0.05S', 50],
    ['PT1M', 60_000],
    ['PT1H30M', 5_400_000],
    ['P1D', 86_400_000],
    ['P1DT1S', 86_401_000],
    ['PT1,5S', 1500],
  ])('%s is %d ms', (text, ms) => {
    expect(parseIsoDuration(text)).toBe(ms);
  });

  it.each(['', 'P', 'PT', '2S', 'PT-1S', 'P1M', 'P1Y', 'PT1S2M', '500ms'])('refuses %j', (text) => {
    expect(parseIsoDuration(text)).toBeUndefined();
  });
});

describe('destinationUrl', () => {
  const resolveService = (name: string) => `http://127.0.0.1:8081/${name === 'notify-dead-letter' ? '' : 'unknown/'}`;

  it('resolves a ref to a Knative Service through resolveService, and a uri against it', () => {
    expect(destinationUrl(service('notify-dead-letter'), resolveService)).toBe('http://127.0.0.1:8081/');
    expect(destinationUrl({ ...service('notify-dead-letter'), uri: '/letters' }, resolveService)).toBe('http://127.0.0.1:8081/letters');
  });

  it('takes a lone uri as it is', () => {
    expect(destinationUrl({ uri: 'http://sink.example/hook' }, resolveService)).toBe('http://sink.example/hook');
  });

  it('refuses a ref to anything but a Knative Service', () => {
    const broker = { ref: { apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', name: 'b' } };
    expect(() => destinationUrl(broker, resolveService)).toThrow(/refers to a Broker/);
  });
});
