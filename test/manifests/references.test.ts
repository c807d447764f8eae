import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { eventConsumedBy } from '../../functions/contracts/events/catalogue.js';
import { INVENTORY } from '../../functions/inventory.js';
import { ROOT, containersOf, field, loadManifests, nameOf, named, podSpecOf, selectorMatches, type KubeObject, type ManifestDocument } from './manifest-support.js';

/**
 * The inventory, the Knative Services and the eventing resources name each other; a wrong name
 * is accepted by the API server and only shows up as events that never arrive.
 */

let knative: ManifestDocument[];
let eventing: ManifestDocument[];
let services: KubeObject[];

beforeAll(async () => {
  knative = await loadManifests('knative');
  eventing = await loadManifests('eventing');
  services = named(knative, 'serving.knative.dev/v1', 'Service');
});

function only(documents: readonly ManifestDocument[], apiVersion: string, kind: string): any {
  const found = named(documents, apiVersion, kind);
  expect(found, `exactly one ${apiVersion} ${kind}`).toHaveLength(1);
  return found[0];
}

const needing = (need: string) =>
  INVENTORY.filter((spec) => (spec.needs as readonly string[]).includes(need))
    .map((spec) => spec.name)
    .sort();

/** A reference to a Knative Service that exists and runs a CloudEvent function. */
function expectCloudEventService(ref: any, what: string): void {
  expect(ref, what).toMatchObject({ apiVersion: 'serving.knative.dev/v1', kind: 'Service' });
  expect(services.map(nameOf), `${what} names a Service in knative/services`).toContain(ref.name);
  expect(INVENTORY.find((spec) => spec.name === ref.name)?.trigger, `${what} is a CloudEvent function`).toBe('cloudevent');
  // No namespace of its own: the sink lives beside the source (kustomize puts both in accounts).
  expect(ref.namespace, what).toBeUndefined();
}

/** The event types the inventory's functions take from a Trigger (by the event catalogue), and who takes each. */
const SUBSCRIBED_TYPES = new Map(
  INVENTORY.flatMap((spec) => {
    const entry = eventConsumedBy(spec.name);
    return entry ? [[entry.type, spec.name] as const] : [];
  }),
);

describe('event routing', () => {
  it("has one Trigger per event type a function subscribes to, sending its events and its dead letters to CloudEvent functions that exist", () => {
    const triggers = named(eventing, 'eventing.knative.dev/v1', 'Trigger') as any[];
    expect(triggers.map((trigger) => trigger.spec.filter.attributes.type).sort()).toEqual([...SUBSCRIBED_TYPES.keys()].sort());
    for (const trigger of triggers) {
      const type = trigger.spec.filter.attributes.type;
      expectCloudEventService(trigger.spec.subscriber.ref, `the subscriber of ${type}`);
      expect(trigger.spec.subscriber.ref.name, type).toBe(SUBSCRIBED_TYPES.get(type));
      expectCloudEventService(trigger.spec.delivery.deadLetterSink.ref, `the dead-letter sink of ${type}`);
      expect(trigger.spec.delivery.deadLetterSink.ref.name, type).toBe('notify-dead-letter');
    }
  });

  it("sends the Broker's dead letters to a CloudEvent function that exists", () => {
    const broker = only(eventing, 'eventing.knative.dev/v1', 'Broker');
    expectCloudEventService(broker.spec.delivery.deadLetterSink.ref, "the Broker's dead-letter sink");
    expect(broker.spec.delivery.deadLetterSink.ref.name).toBe('notify-dead-letter');
  });

  it("starts outbox-relay from the PingSource", () => {
    const ping = only(eventing, 'sources.knative.dev/v1', 'PingSource');
    expectCloudEventService(ping.spec.sink.ref, "the PingSource's sink");
    expect(ping.spec.sink.ref.name).toBe('outbox-relay');
  });

  it("subscribes every Trigger to the Broker that exists, filtering on the event type the RabbitMQ broker understands", () => {
    const broker = only(eventing, 'eventing.knative.dev/v1', 'Broker');
    for (const trigger of named(eventing, 'eventing.knative.dev/v1', 'Trigger') as any[]) {
      expect(trigger.spec.broker).toBe(nameOf(broker));
      expect(Object.keys(trigger.spec.filter)).toEqual(['attributes']);
      expect(Object.keys(trigger.spec.filter.attributes)).toEqual(['type']);
      // The RabbitMQ broker ignores spec.filters: a filter there would silently let every event through.
      expect(trigger.spec.filters).toBeUndefined();
    }
  });

  it('gives K_SINK (the Broker) to exactly the Services whose functions publish events', () => {
    const binding = only(eventing, 'sources.knative.dev/v1', 'SinkBinding');
    const broker = only(eventing, 'eventing.knative.dev/v1', 'Broker');
    expect(binding.spec.sink.ref).toEqual({ apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', name: nameOf(broker) });
    expect(binding.spec.subject).toMatchObject({ apiVersion: 'serving.knative.dev/v1', kind: 'Service' });
    expect(binding.spec.subject.name, 'a selector, not one name').toBeUndefined();
    const selected = services.filter((service) => selectorMatches(binding.spec.subject.selector, service.metadata?.['labels'] as Record<string, string>)).map(nameOf);
    expect(selected.sort()).toEqual(needing('sink'));
    // And each has it in its template already, as the value the SinkBinding would set (the Broker's
    // ingress): a revision with a fixed name cannot be changed by the binding afterwards.
    const publishers: readonly string[] = needing('sink');
    for (const service of services.filter((candidate) => publishers.includes(nameOf(candidate))) as any[]) {
      const env = (service.spec.template.spec.containers[0].env as { name: string; value?: string }[]).find((entry) => entry.name === 'K_SINK');
      expect(env?.value, nameOf(service)).toBe(`http://${nameOf(broker)}-broker-ingress.accounts.svc.cluster.local`);
    }
    expect(needing('sink')).toEqual(['auth-login', 'outbox-relay', 'users-create', 'users-email-verification-request', 'users-password-reset-request', 'users-update']);
  });
});

describe('the RabbitMQ broker', () => {
  it('is a RabbitMQBroker configured by the RabbitmqBrokerConfig, which points at the RabbitmqCluster', async () => {
    const broker = only(eventing, 'eventing.knative.dev/v1', 'Broker');
    const config = only(eventing, 'eventing.knative.dev/v1alpha1', 'RabbitmqBrokerConfig');
    const cluster = only(eventing, 'rabbitmq.com/v1beta1', 'RabbitmqCluster');
    expect(broker.metadata.annotations['eventing.knative.dev/broker.class']).toBe('RabbitMQBroker');
    expect(broker.spec.config).toEqual({ apiVersion: 'eventing.knative.dev/v1alpha1', kind: 'RabbitmqBrokerConfig', name: nameOf(config) });
    expect(config.spec.rabbitmqClusterReference.name).toBe(nameOf(cluster));
    // The cluster is created in the eventing kustomization's namespace; the reference must say the same.
    const kustomization = await readFile(join(ROOT, 'eventing/kustomization.yaml'), 'utf8');
    expect(config.spec.rabbitmqClusterReference.namespace).toBe(/^namespace: (\S+)$/m.exec(kustomization)?.[1]);
  });
});

describe('Postgres access', () => {
  const DATABASE_CLIENT = 'accounts.knative.dev/database-client';

  it('lets exactly the database functions and the migration Job through the NetworkPolicy', () => {
    // knative/network/ holds the namespace's other policies; this one is Postgres's own.
    const policy: any = named(knative, 'networking.k8s.io/v1', 'NetworkPolicy').find((candidate) => nameOf(candidate) === 'accounts-postgres');
    expect(policy, 'the accounts-postgres NetworkPolicy').toBeDefined();
    const statefulSet = only(knative, 'apps/v1', 'StatefulSet');
    // The policy guards the Postgres pods...
    expect(selectorMatches(policy.spec.podSelector, statefulSet.spec.template.metadata.labels)).toBe(true);
    expect(policy.spec.policyTypes).toContain('Ingress');
    expect(policy.spec.ingress).toHaveLength(1);
    const [rule] = policy.spec.ingress;
    expect(rule.ports).toEqual([{ protocol: 'TCP', port: statefulSet.spec.template.spec.containers[0].ports[0].containerPort }]);
    expect(rule.from).toHaveLength(1);
    const allowed = rule.from[0].podSelector;
    expect(rule.from[0].namespaceSelector, 'pods of this namespace only').toBeUndefined();
    expect(Object.keys(allowed.matchLabels)).toEqual([DATABASE_CLIENT]);

    // ...and admits the pods (revision templates) of exactly the functions that need the database.
    const admitted = services.filter((service) => selectorMatches(allowed, field(service, 'spec', 'template', 'metadata', 'labels'))).map(nameOf);
    expect(admitted.sort()).toEqual(needing('database'));
    // The label on the Service's own metadata would not reach the pods.
    for (const service of services) expect(field(service, 'metadata', 'labels', DATABASE_CLIENT), nameOf(service)).toBeUndefined();

    const job = only(knative, 'batch/v1', 'Job');
    expect(selectorMatches(allowed, job.spec.template.metadata.labels), 'the migration Job reaches Postgres').toBe(true);
  });
});

describe('the Postgres StatefulSet', () => {
  it('runs exactly one server, behind a headless Service named by serviceName', () => {
    const statefulSet = only(knative, 'apps/v1', 'StatefulSet');
    expect(statefulSet.spec.replicas).toBe(1);
    const service = only(knative, 'v1', 'Service');
    expect(nameOf(service)).toBe(statefulSet.spec.serviceName);
    expect(service.spec.clusterIP).toBe('None');
    expect(selectorMatches({ matchLabels: service.spec.selector }, statefulSet.spec.template.metadata.labels)).toBe(true);
    expect(selectorMatches(statefulSet.spec.selector, statefulSet.spec.template.metadata.labels)).toBe(true);
    const portName = statefulSet.spec.template.spec.containers[0].ports[0].name;
    expect(service.spec.ports[0].targetPort).toBe(portName);
  });

  it('keeps its data on a claim only its one pod may mount, at the mounted path', () => {
    const statefulSet = only(knative, 'apps/v1', 'StatefulSet');
    expect(statefulSet.spec.volumeClaimTemplates).toHaveLength(1);
    const [claim] = statefulSet.spec.volumeClaimTemplates;
    expect(claim.spec.accessModes).toEqual(['ReadWriteOncePod']);
    expect(claim.spec.resources.requests.storage).toBeTruthy();
    const container = statefulSet.spec.template.spec.containers[0];
    const mount = container.volumeMounts.find((volumeMount: any) => volumeMount.name === claim.metadata.name);
    expect(mount, 'the claim is mounted').toBeDefined();
    const pgdata = container.env.find((entry: any) => entry.name === 'PGDATA')?.value as string | undefined;
    if (pgdata) expect(pgdata.startsWith(`${mount.mountPath}/`), 'PGDATA lies on the claim').toBe(true);
  });

  it('checks readiness and liveness with pg_isready, and takes the superuser password from a Secret', () => {
    const statefulSet = only(knative, 'apps/v1', 'StatefulSet');
    const [container] = containersOf(podSpecOf(statefulSet));
    expect(container.readinessProbe.exec.command[0]).toBe('pg_isready');
    expect(container.livenessProbe.exec.command[0]).toBe('pg_isready');
    const password = container.env.find((entry: any) => entry.name === 'POSTGRES_PASSWORD');
    expect(password.value).toBeUndefined();
    expect(password.valueFrom.secretKeyRef).toEqual({ name: 'accounts-postgres', key: 'password' });
  });

  it('is the host the example database URLs point at', () => {
    const service = only(knative, 'v1', 'Service');
    const port = service.spec.ports[0].port;
    for (const secret of named(knative, 'v1', 'Secret')) {
      const url = field(secret, 'stringData', 'url') as string | undefined;
      if (!url?.startsWith('postgres')) continue;
      expect(new URL(url).host, nameOf(secret)).toBe(`${nameOf(service)}.accounts.svc.cluster.local:${port}`);
    }
  });
});
