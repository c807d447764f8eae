import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INVENTORY, type FunctionSpec } from '../../functions/inventory.js';
import { packageVersion, writeManifests } from '../../scripts/deploy/manifests.js';
import { BROKER, DEFAULT_IMAGE, POD_LABELS, RABBITMQ_CLUSTER, USERS_VERIFY } from '../../scripts/deploy/namespace.js';
import { calledBy, INGRESSES, type IngressName, MONITORING_NAMESPACE, networkPolicies, renderNetworkPolicy } from '../../scripts/deploy/network-policies.js';
import { renderService } from '../../scripts/deploy/services.js';
import { ROOT, field, kustomize, loadManifests, nameOf, named, parseDocuments, selectorMatches, type KubeObject, type ManifestDocument } from './manifest-support.js';
import { allows, namespaceLabels, type Endpoint, type External, type Pod, type Protocol, type StoredPolicy } from './network-policy-model.js';
import { loadSchemaSet, validateObject, type SchemaSet } from './schema-validation.js';

/**
 * The namespace's NetworkPolicies (knative/network/, generated; Postgres's own in knative/postgres/)
 * and the Broker's EventPolicy: valid against the real schemas, in step with the generator, and, run
 * through a small evaluator of NetworkPolicy semantics over a model of the cluster's pods (labelled
 * and placed as Knative, Kourier/Istio/Contour, eventing-rabbitmq and the RabbitMQ operators do),
 * letting through exactly the flows the system needs.
 */

let schemas: SchemaSet;
let knative: ManifestDocument[];
let eventing: ManifestDocument[];
let committedPolicies: KubeObject[];
let version: string;

beforeAll(async () => {
  schemas = await loadSchemaSet();
  knative = await loadManifests('knative');
  eventing = await loadManifests('eventing');
  committedPolicies = named(knative, 'networking.k8s.io/v1', 'NetworkPolicy');
  version = await packageVersion();
});

function problemsOf(documents: readonly ManifestDocument[]): string[] {
  return documents.flatMap((document) => validateObject(schemas, document.object).map((problem) => `${document.source} ${nameOf(document.object)}: ${problem.message}`));
}

function only(documents: readonly ManifestDocument[], apiVersion: string, kind: string): any {
  const found = named(documents, apiVersion, kind);
  expect(found, `exactly one ${apiVersion} ${kind}`).toHaveLength(1);
  return found[0];
}

describe('the evaluator itself', () => {
  const pod = (name: string, namespace: string, labels: Record<string, string>, ip = '10.0.0.1'): Pod => ({ kind: 'pod', name, namespace, labels, ip });
  const policy = (spec: any, namespace = 'ns'): StoredPolicy => ({ namespace, object: { spec } });
  const target = pod('target', 'ns', { app: 'target' });
  const friend = pod('friend', 'other', { app: 'friend' });
  const stranger = pod('stranger', 'third', { app: 'friend' });

  it('lets everything through where no policy selects a pod, and nothing where an empty one does', () => {
    expect(allows([], stranger, target, 80)).toBe(true);
    expect(allows([policy({ podSelector: {}, policyTypes: ['Ingress'] })], stranger, target, 80)).toBe(false);
    expect(allows([policy({ podSelector: {}, policyTypes: ['Egress'] })], target, stranger, 80)).toBe(false);
    // Isolated for egress only: what comes in is still free.
    expect(allows([policy({ podSelector: {}, policyTypes: ['Egress'] })], stranger, target, 80)).toBe(true);
  });

  it('ANDs a namespaceSelector and a podSelector in one peer, ORs separate peers', () => {
    const both = policy({ podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: namespaceLabels('other') }, podSelector: { matchLabels: { app: 'friend' } } }] }] });
    expect(allows([both], friend, target, 80)).toBe(true);
    expect(allows([both], stranger, target, 80), 'right label, wrong namespace').toBe(false);
    const either = policy({ podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: namespaceLabels('other') } }, { podSelector: { matchLabels: { app: 'friend' } } }] }] });
    expect(allows([either], stranger, target, 80), 'a podSelector alone means the policy namespace').toBe(false);
    expect(allows([either], pod('neighbour', 'ns', { app: 'friend' }), target, 80)).toBe(true);
    expect(allows([either], friend, target, 80)).toBe(true);
  });

  it('matches ports by protocol, number and range; no ports means every port', () => {
    const ranged = policy({ podSelector: {}, ingress: [{ ports: [{ port: 100, endPort: 110 }, { protocol: 'UDP', port: 53 }] }] });
    expect(allows([ranged], stranger, target, 105)).toBe(true);
    expect(allows([ranged], stranger, target, 111)).toBe(false);
    expect(allows([ranged], stranger, target, 53, 'UDP')).toBe(true);
    expect(allows([ranged], stranger, target, 53, 'TCP')).toBe(false);
    expect(allows([policy({ podSelector: {}, ingress: [{}] })], stranger, target, 1)).toBe(true);
  });

  it('takes the union of the policies selecting a pod, and needs both ends to agree', () => {
    const deny = policy({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    const letIn = policy({ podSelector: { matchLabels: { app: 'target' } }, ingress: [{ from: [{ namespaceSelector: {} }] }] });
    expect(allows([deny, letIn], friend, target, 80)).toBe(true);
    const source = pod('source', 'ns', { app: 'source' });
    expect(allows([deny, letIn], source, target, 80), "the source's own egress is denied").toBe(false);
  });

  it('matches ipBlocks with their exceptions, and never an address with a pod selector', () => {
    const out = policy({ podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] } }] }] });
    const public4: External = { kind: 'external', name: 'public', ip: '203.0.113.7' };
    const private4: External = { kind: 'external', name: 'private', ip: '10.9.9.9' };
    expect(allows([out], target, public4, 25)).toBe(true);
    expect(allows([out], target, private4, 25)).toBe(false);
    expect(allows([out], target, { kind: 'external', name: 'v6', ip: '2001:db8::1' }, 25), 'an IPv4 block holds no IPv6 address').toBe(false);
    const anyPod = policy({ podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: {} }] }] });
    expect(allows([anyPod], target, public4, 25)).toBe(false);
  });
});

/* ------------------------------------------------------------------------------------------------
 * The cluster: our pods as the committed manifests label them (plus what Knative and the operators
 * add), and everyone else's as their release manifests and sources do.
 * ---------------------------------------------------------------------------------------------- */

interface Cluster {
  readonly pods: Map<string, Endpoint>;
  /** The pod behind a function's revision. */
  fn(name: string): Pod;
  get(key: string): Endpoint;
}

function buildCluster(ingress: IngressName): Cluster {
  const pods = new Map<string, Endpoint>();
  let next = 10;
  const add = (key: string, namespace: string, labels: Record<string, string>) => {
    pods.set(key, { kind: 'pod', name: key, namespace, labels, ip: `10.244.${Math.floor(next / 250)}.${next % 250}` });
    next += 1;
  };
  const external = (key: string, ip: string) => pods.set(key, { kind: 'external', name: key, ip });

  // Our functions: the revision template's labels, plus what Knative puts on every revision pod
  // (knative/serving pkg/reconciler/revision/resources/meta.go, configuration/resources/revision.go).
  for (const service of named(knative, 'serving.knative.dev/v1', 'Service')) {
    const revision = field(service, 'spec', 'template', 'metadata', 'name') as string;
    add(`fn:${nameOf(service)}`, 'accounts', {
      ...(field(service, 'spec', 'template', 'metadata', 'labels') as Record<string, string>),
      'serving.knative.dev/service': nameOf(service),
      'serving.knative.dev/configuration': nameOf(service),
      'serving.knative.dev/configurationGeneration': '1',
      'serving.knative.dev/revision': revision,
      'serving.knative.dev/revisionUID': '5f0c1b7e-0000-4000-8000-000000000000',
      app: revision,
      'pod-template-hash': '7d9c8b6f5',
    });
  }
  const job = only(knative, 'batch/v1', 'Job');
  add('migrate', 'accounts', { ...job.spec.template.metadata.labels, 'batch.kubernetes.io/job-name': nameOf(job), 'job-name': nameOf(job) });
  const statefulSet = only(knative, 'apps/v1', 'StatefulSet');
  add('postgres', 'accounts', { ...statefulSet.spec.template.metadata.labels, 'statefulset.kubernetes.io/pod-name': `${nameOf(statefulSet)}-0` });

  // The RabbitMQ broker runs its ingress and dispatchers in the Broker's (and Triggers') namespace
  // (eventing-rabbitmq pkg/reconciler/broker/resources/ingress.go, dispatcher.go; trigger/resources/dispatcher.go).
  const broker = nameOf(only(eventing, 'eventing.knative.dev/v1', 'Broker'));
  add('broker-ingress', 'accounts', { 'eventing.knative.dev/broker': broker, 'eventing.knative.dev/brokerRole': 'ingress', 'pod-template-hash': 'a1' });
  add('trigger-dispatcher', 'accounts', { 'eventing.knative.dev/broker': broker, 'eventing.knative.dev/brokerRole': 'dispatcher', 'pod-template-hash': 'b2' });
  add('trigger-dlx-dispatcher', 'accounts', { 'eventing.knative.dev/broker': broker, 'eventing.knative.dev/brokerRole': 'dispatcher', 'pod-template-hash': 'c3' });
  add('broker-dlq-dispatcher', 'accounts', { 'eventing.knative.dev/broker': broker, 'eventing.knative.dev/brokerRole': 'dispatcher-dlq', 'pod-template-hash': 'd4' });
  // RabbitmqCluster pods (rabbitmq/cluster-operator internal/metadata/label.go); two, to check clustering.
  const rabbit = nameOf(only(eventing, 'rabbitmq.com/v1beta1', 'RabbitmqCluster'));
  for (const index of [0, 1]) {
    add(`rabbitmq-${index}`, 'accounts', {
      'app.kubernetes.io/name': rabbit,
      'app.kubernetes.io/component': 'rabbitmq',
      'app.kubernetes.io/part-of': 'rabbitmq',
      'statefulset.kubernetes.io/pod-name': `${rabbit}-server-${index}`,
    });
  }
  add('random:accounts', 'accounts', { app: 'debug', run: 'debug' });

  // Knative Serving (config/core/deployments/{activator,autoscaler,controller}.yaml).
  add('activator', 'knative-serving', { app: 'activator', role: 'activator', 'app.kubernetes.io/component': 'activator', 'app.kubernetes.io/name': 'knative-serving' });
  add('autoscaler', 'knative-serving', { app: 'autoscaler', 'app.kubernetes.io/component': 'autoscaler', 'app.kubernetes.io/name': 'knative-serving' });
  add('serving-controller', 'knative-serving', { app: 'controller', 'app.kubernetes.io/component': 'controller', 'app.kubernetes.io/name': 'knative-serving' });
  // Knative Eventing's PingSource adapter (config/core/deployments/pingsource-mt-adapter.yaml) and the broker's controller.
  add('ping-adapter', 'knative-eventing', {
    'eventing.knative.dev/source': 'ping-source-controller',
    'sources.knative.dev/role': 'adapter',
    'app.kubernetes.io/component': 'pingsource-mt-adapter',
    'app.kubernetes.io/name': 'knative-eventing',
  });
  add('rabbitmq-broker-controller', 'knative-eventing', { app: 'rabbitmq-broker-controller' });
  // The ingress's gateways.
  if (ingress === 'kourier') {
    add('gateway:external', 'kourier-system', { app: '3scale-kourier-gateway' }); // net-kourier config/300-gateway.yaml
    pods.set('gateway:local', pods.get('gateway:external')!);
  } else if (ingress === 'istio') {
    add('gateway:external', 'istio-system', { app: 'istio-ingressgateway', istio: 'ingressgateway' }); // net-istio config/20*-gateway.yaml
    pods.set('gateway:local', pods.get('gateway:external')!);
  } else {
    add('gateway:external', 'contour-external', { app: 'envoy' }); // net-contour config/contour/external.yaml
    add('gateway:local', 'contour-internal', { app: 'envoy' }); // net-contour config/contour/internal.yaml
  }
  add('dns', 'kube-system', { 'k8s-app': 'kube-dns' }); // kubernetes cluster/addons/dns/coredns
  add('cluster-operator', 'rabbitmq-system', { 'app.kubernetes.io/name': 'rabbitmq-cluster-operator', 'app.kubernetes.io/component': 'rabbitmq-operator', 'app.kubernetes.io/part-of': 'rabbitmq' });
  add('topology-operator', 'rabbitmq-system', { 'app.kubernetes.io/name': 'messaging-topology-operator', 'app.kubernetes.io/component': 'rabbitmq-operator', 'app.kubernetes.io/part-of': 'rabbitmq' });
  add('random:default', 'default', { app: 'random' });
  // Prometheus as kube-prometheus-stack runs it (prometheus-operator's StatefulSet labels), in the monitoring namespace, and a copy of it elsewhere.
  const prometheusLabels = { 'app.kubernetes.io/name': 'prometheus', 'app.kubernetes.io/instance': 'kube-prometheus-stack-prometheus', prometheus: 'kube-prometheus-stack-prometheus' };
  add('prometheus', MONITORING_NAMESPACE, prometheusLabels);
  add('impostor:prometheus', 'tenant', prometheusLabels);
  // A tenant's pods wearing the activator's and the gateway's labels: labels alone must not let them in.
  add('impostor:activator', 'tenant', { app: 'activator', role: 'activator' });
  add('impostor:gateway', 'tenant', { app: '3scale-kourier-gateway', istio: 'ingressgateway' });

  external('smtp', '203.0.113.25');
  external('smtp:v6', '2001:db8::25');
  external('relay:private', '10.96.40.25');
  external('metadata', '169.254.169.254');

  const get = (key: string): Endpoint => {
    const found = pods.get(key);
    if (!found) throw new Error(`no ${key} in the cluster model`);
    return found;
  };
  return { pods, get, fn: (name) => get(`fn:${name}`) as Pod };
}

/* ------------------------------------------------------------------------------------------------
 * The flows: what must get through, and what must not.
 * ---------------------------------------------------------------------------------------------- */

interface Flow {
  readonly from: string;
  readonly to: string;
  readonly port: number | 'local-gateway';
  readonly protocol?: Protocol;
  readonly allowed: boolean;
  readonly why: string;
}

const fnKey = (name: string) => `fn:${name}`;
const needing = (need: string) => INVENTORY.filter((spec) => (spec.needs as readonly string[]).includes(need)).map((spec) => spec.name);

function flowsFor(): Flow[] {
  const flows: Flow[] = [];
  const allow = (from: string, to: string, port: Flow['port'], why: string, protocol?: Protocol) => flows.push({ from, to, port, allowed: true, why, ...(protocol ? { protocol } : {}) });
  const deny = (from: string, to: string, port: Flow['port'], why: string, protocol?: Protocol) => flows.push({ from, to, port, allowed: false, why, ...(protocol ? { protocol } : {}) });

  for (const spec of INVENTORY) {
    const fn = fnKey(spec.name);
    allow('gateway:local', fn, 8012, `${spec.name}'s cluster-local URL, through the local gateway`);
    allow('activator', fn, 8012, `the activator proxies to ${spec.name} while it scales from zero or bursts`);
    allow('autoscaler', fn, 9090, `the autoscaler scrapes ${spec.name}'s queue-proxy`);
    allow(fn, 'dns', 53, `${spec.name} resolves names`, 'UDP');
    allow(fn, 'dns', 53, `${spec.name} resolves names over TCP`, 'TCP');
    deny('gateway:local', fn, 8080, `nobody reaches ${spec.name}'s container port but queue-proxy, on localhost`);
    deny('activator', fn, 9091, `the activator has no business with ${spec.name}'s user metrics`);
    deny('random:accounts', fn, 8012, `a stray pod in accounts does not reach ${spec.name}`);
    deny('random:default', fn, 8012, `a pod of another namespace does not reach ${spec.name} directly`);
    deny('impostor:activator', fn, 8012, "the activator's labels outside knative-serving do not open the door");
    allow('prometheus', fn, 9091, `Prometheus scrapes ${spec.name}'s queue-proxy request metrics`);
    allow('prometheus', fn, 9090, `Prometheus scrapes ${spec.name}'s queue-proxy autoscaler metrics`);
    deny('prometheus', fn, 8012, `Prometheus scrapes ${spec.name}, it does not call it`);
    deny('impostor:prometheus', fn, 9091, `Prometheus's labels outside ${MONITORING_NAMESPACE} do not open the door`);
    deny('random:default', fn, 9091, `a pod of another namespace does not scrape ${spec.name}`);
    deny('random:accounts', fn, 9090, `a stray pod in accounts does not scrape ${spec.name}`);
    if (calledBy(spec) === 'ingress') allow('gateway:external', fn, 8012, `${spec.name}'s public URL, through the ingress gateway`);
    if ((spec.needs as readonly string[]).includes('database')) allow(fn, 'postgres', 5432, `${spec.name} uses the database`);
    else deny(fn, 'postgres', 5432, `${spec.name} has no database`);
    if (!(spec.needs as readonly string[]).includes('mail')) deny(fn, 'smtp', 587, `${spec.name} sends no mail`);
    if (!(spec.needs as readonly string[]).includes('sink')) deny(fn, 'broker-ingress', 8080, `${spec.name} publishes no events`);
    if (!(spec.needs as readonly string[]).includes('signIn') && spec.name !== USERS_VERIFY) deny(fn, fnKey(USERS_VERIFY), 8012, `${spec.name} does not call ${USERS_VERIFY}`);
  }

  // Public functions behind the ingress.
  allow('gateway:external', 'fn:users-get', 8012, 'the ingress gateway reaches users-get');
  deny('impostor:gateway', 'fn:users-get', 8012, "the gateway's labels outside its namespace do not open the door");

  // Sign-in: auth-login to users-verify through the local gateway (to its pods or the activator), and straight (a mesh).
  allow('fn:auth-login', 'gateway:local', 'local-gateway', "auth-login calls users-verify's cluster-local URL");
  allow('gateway:local', 'fn:users-verify', 8012, 'the local gateway proxies to users-verify');
  allow('fn:auth-login', 'fn:users-verify', 8012, 'auth-login straight to users-verify, as a mesh sidecar sends it');
  allow('fn:auth-login', 'activator', 8012, 'auth-login straight to the activator, as a mesh sidecar sends it');
  deny('random:accounts', 'fn:users-verify', 8012, 'a stray pod in accounts does not reach users-verify');
  deny('random:accounts', 'gateway:local', 'local-gateway', 'nor does it get through the local gateway: it may not connect at all');
  deny('random:default', 'fn:users-verify', 8012, 'a pod of another namespace does not reach users-verify directly');
  deny('fn:users-get', 'gateway:local', 'local-gateway', 'users-get calls no other function');

  // Postgres.
  for (const name of needing('database')) allow(fnKey(name), 'postgres', 5432, `${name} uses the database`);
  allow('migrate', 'postgres', 5432, 'the migration Job migrates');
  allow('migrate', 'dns', 53, 'the migration Job resolves the Postgres Service', 'UDP');
  deny('random:accounts', 'postgres', 5432, 'a stray pod in accounts does not reach Postgres');
  deny('random:default', 'postgres', 5432, 'a pod of another namespace does not reach Postgres');
  deny('broker-ingress', 'postgres', 5432, 'the broker has no business with Postgres');
  deny('postgres', 'smtp', 443, 'Postgres opens no connection out');
  deny('postgres', 'dns', 53, 'Postgres resolves nothing', 'UDP');

  // Events: publishers to the broker's ingress, the ingress to RabbitMQ, RabbitMQ to the dispatchers, the dispatchers to the subscribers.
  for (const name of needing('sink')) allow(fnKey(name), 'broker-ingress', 8080, `${name} publishes to the broker (K_SINK)`);
  allow('broker-ingress', 'rabbitmq-0', 5672, 'the ingress publishes into RabbitMQ');
  allow('broker-ingress', 'dns', 53, 'the ingress resolves the RabbitMQ Service', 'UDP');
  for (const dispatcher of ['trigger-dispatcher', 'trigger-dlx-dispatcher', 'broker-dlq-dispatcher']) {
    allow(dispatcher, 'rabbitmq-0', 5672, `the ${dispatcher} consumes from RabbitMQ`);
    allow(dispatcher, 'dns', 53, `the ${dispatcher} resolves names`, 'UDP');
    allow(dispatcher, 'gateway:local', 'local-gateway', `the ${dispatcher} delivers to a cluster-local URL`);
    allow(dispatcher, 'activator', 8012, `the ${dispatcher} straight to the activator, as a mesh sidecar sends it`);
    allow(dispatcher, 'broker-ingress', 8080, `the ${dispatcher} sends a subscriber's reply back into the broker`);
    deny(dispatcher, 'fn:users-get', 8012, 'the broker delivers to no HTTP function');
    deny(dispatcher, 'smtp', 25, 'the broker sends no mail');
  }
  allow('gateway:local', 'fn:notify-login-email', 8012, 'deliveries to notify-login-email arrive through the local gateway');
  allow('trigger-dispatcher', 'fn:notify-login-email', 8012, 'the Trigger dispatcher straight to notify-login-email, as a mesh sidecar sends it');
  allow('trigger-dlx-dispatcher', 'fn:notify-dead-letter', 8012, "the Trigger's dead-letter dispatcher straight to notify-dead-letter");
  allow('broker-dlq-dispatcher', 'fn:notify-dead-letter', 8012, "the Broker's dead-letter dispatcher straight to notify-dead-letter");
  deny('random:accounts', 'fn:notify-login-email', 8012, 'a stray pod in accounts does not reach notify-login-email');
  deny('random:default', 'fn:notify-login-email', 8012, 'a pod of another namespace does not reach notify-login-email directly');
  deny('random:accounts', 'broker-ingress', 8080, 'a stray pod in accounts cannot publish events');
  deny('random:default', 'broker-ingress', 8080, 'a pod of another namespace cannot publish events');
  deny('ping-adapter', 'fn:notify-login-email', 8012, 'pings go to outbox-relay only');

  // The PingSource adapter to outbox-relay.
  allow('gateway:local', 'fn:outbox-relay', 8012, 'pings to outbox-relay arrive through the local gateway');
  allow('ping-adapter', 'fn:outbox-relay', 8012, 'the PingSource adapter straight to outbox-relay, as a mesh sidecar sends it');
  deny('random:default', 'fn:outbox-relay', 8012, 'a pod of another namespace does not start outbox-relay directly');

  // RabbitMQ.
  allow('cluster-operator', 'rabbitmq-0', 15672, 'the cluster operator calls the HTTP API');
  allow('topology-operator', 'rabbitmq-0', 15672, 'the topology operator declares the exchanges and queues');
  for (const port of [4369, 25672, 35672, 35682]) allow('rabbitmq-0', 'rabbitmq-1', port, `the nodes cluster on ${port}`);
  allow('rabbitmq-1', 'dns', 53, 'the nodes resolve each other', 'UDP');
  deny('rabbitmq-0', 'rabbitmq-1', 5552, 'no streams between the nodes');
  deny('random:accounts', 'rabbitmq-0', 5672, 'a stray pod in accounts does not reach RabbitMQ');
  deny('random:default', 'rabbitmq-0', 15672, 'a pod of another namespace does not reach the HTTP API');
  deny('fn:auth-login', 'rabbitmq-0', 5672, 'the publishers go through the broker, not to RabbitMQ');
  deny('rabbitmq-broker-controller', 'rabbitmq-0', 5672, 'the broker controller declares its topology through the operator');
  allow('prometheus', 'rabbitmq-0', 15692, "Prometheus scrapes RabbitMQ's metrics");
  allow('prometheus', 'rabbitmq-1', 15692, 'on every node');
  deny('prometheus', 'rabbitmq-0', 5672, 'Prometheus does not speak AMQP');
  deny('prometheus', 'rabbitmq-0', 15672, 'nor use the HTTP API');
  deny('impostor:prometheus', 'rabbitmq-0', 15692, `Prometheus's labels outside ${MONITORING_NAMESPACE} do not open the door`);
  deny('random:accounts', 'rabbitmq-0', 15692, "a stray pod in accounts does not scrape RabbitMQ");
  deny('prometheus', 'postgres', 5432, 'Prometheus does not reach Postgres');

  // Mail: out of the cluster, on the SMTP ports only.
  for (const port of [25, 465, 587]) allow('fn:notify-login-email', 'smtp', port, `notify-login-email sends mail (${port})`);
  allow('fn:notify-login-email', 'smtp:v6', 587, 'notify-login-email sends mail over IPv6');
  deny('fn:notify-login-email', 'smtp', 80, 'nothing but SMTP goes out');
  deny('fn:notify-login-email', 'relay:private', 25, 'no SMTP to the private ranges (the cluster lives there)');
  deny('fn:notify-login-email', 'metadata', 80, "no cloud metadata server");
  deny('fn:users-get', 'smtp', 587, 'users-get cannot reach an SMTP port outside');
  deny('random:accounts', 'smtp', 587, 'a stray pod in accounts cannot send mail');
  deny('random:accounts', 'dns', 53, 'a stray pod in accounts may not even resolve names', 'UDP');
  return flows;
}

/** The policies in force: the generated ones for this ingress and Postgres's own, all in accounts. */
function policiesFor(ingress: IngressName): StoredPolicy[] {
  const postgres = committedPolicies.filter((policy) => nameOf(policy) === 'accounts-postgres');
  expect(postgres).toHaveLength(1);
  const generated =
    ingress === 'kourier'
      ? committedPolicies.filter((policy) => nameOf(policy) !== 'accounts-postgres')
      : networkPolicies(ingress).flatMap((policy) => parseDocuments(renderNetworkPolicy(policy), policy.file).map((document) => document.object));
  return [...generated, ...postgres].map((object) => ({ namespace: 'accounts', object }));
}

function evaluate(cluster: Cluster, policies: readonly StoredPolicy[], flow: Flow, ingress: IngressName): boolean {
  const port = flow.port === 'local-gateway' ? INGRESSES[ingress].localPort : flow.port;
  return allows(policies, cluster.get(flow.from), cluster.get(flow.to), port, flow.protocol ?? 'TCP');
}

const label = (flow: Flow) => `${flow.from} -> ${flow.to}:${String(flow.port)}${flow.protocol === 'UDP' ? '/udp' : ''}`;

describe.each(Object.keys(INGRESSES) as IngressName[])('behind %s', (ingress) => {
  let cluster: Cluster;
  let policies: StoredPolicy[];
  let flows: Flow[];

  beforeAll(() => {
    cluster = buildCluster(ingress);
    policies = policiesFor(ingress);
    flows = flowsFor();
  });

  it('every policy validates against the NetworkPolicy schema', () => {
    const problems = policies.flatMap(({ object }) => validateObject(schemas, object).map((problem) => `${nameOf(object)}: ${problem.message}`));
    expect(problems).toEqual([]);
  });

  it('lets through exactly the flows the system needs (and none of the others listed)', () => {
    const wrong = flows.filter((flow) => evaluate(cluster, policies, flow, ingress) !== flow.allowed).map((flow) => `${flow.allowed ? 'denied' : 'allowed'}: ${label(flow)} (${flow.why})`);
    expect(wrong).toEqual([]);
  });

  it('the ingress gateway and the activator reach users-get on 8012', () => {
    expect(allows(policies, cluster.get('gateway:external'), cluster.fn('users-get'), 8012)).toBe(true);
    expect(allows(policies, cluster.get('activator'), cluster.fn('users-get'), 8012)).toBe(true);
  });

  it('a random pod, in accounts or elsewhere, reaches neither users-verify, notify-login-email nor Postgres', () => {
    for (const random of ['random:accounts', 'random:default']) {
      for (const [target, port] of [[fnKey('users-verify'), 8012], [fnKey('notify-login-email'), 8012], ['postgres', 5432]] as const) {
        expect(allows(policies, cluster.get(random), cluster.get(target), port), `${random} -> ${target}`).toBe(false);
      }
    }
  });

  it('auth-login reaches users-verify (through the local gateway, to its pods or via the activator) and Postgres', () => {
    const login = cluster.fn('auth-login');
    const gateway = cluster.get('gateway:local');
    const verify = cluster.fn('users-verify');
    const activator = cluster.get('activator');
    expect(allows(policies, login, gateway, INGRESSES[ingress].localPort)).toBe(true);
    // The gateway sends the request to users-verify's pods, or (scaled to zero, bursting) to the activator, which sends it on.
    expect(allows(policies, gateway, verify, 8012)).toBe(true);
    expect(allows(policies, gateway, activator, 8012)).toBe(true);
    expect(allows(policies, activator, verify, 8012)).toBe(true);
    expect(allows(policies, login, cluster.get('postgres'), 5432)).toBe(true);
  });

  it('the broker dispatcher reaches notify-login-email; the PingSource adapter reaches outbox-relay', () => {
    const gateway = cluster.get('gateway:local');
    const dispatcher = cluster.get('trigger-dispatcher');
    expect(allows(policies, dispatcher, gateway, INGRESSES[ingress].localPort)).toBe(true);
    expect(allows(policies, gateway, cluster.fn('notify-login-email'), 8012)).toBe(true);
    expect(allows(policies, dispatcher, cluster.fn('notify-login-email'), 8012)).toBe(true);
    // The adapter lives in knative-eventing, where no policy of ours applies: its way out is its own namespace's business.
    expect(allows(policies, cluster.get('ping-adapter'), gateway, INGRESSES[ingress].localPort)).toBe(true);
    expect(allows(policies, gateway, cluster.fn('outbox-relay'), 8012)).toBe(true);
    expect(allows(policies, cluster.get('ping-adapter'), cluster.fn('outbox-relay'), 8012)).toBe(true);
  });

  it('users-get cannot reach an SMTP port outside; notify-login-email can; every function reaches DNS', () => {
    expect(allows(policies, cluster.fn('users-get'), cluster.get('smtp'), 587)).toBe(false);
    expect(allows(policies, cluster.fn('notify-login-email'), cluster.get('smtp'), 587)).toBe(true);
    for (const spec of INVENTORY) {
      expect(allows(policies, cluster.fn(spec.name), cluster.get('dns'), 53, 'UDP'), spec.name).toBe(true);
      expect(allows(policies, cluster.fn(spec.name), cluster.get('dns'), 53, 'TCP'), spec.name).toBe(true);
    }
  });

  it('cannot tell callers apart behind the shared local gateway: a pod elsewhere that may reach it gets to users-verify (docs/deploying.md)', () => {
    // The gateway proxies every cluster-local URL of the cluster; only its caller's own namespace (or the
    // gateway's) can stop that caller. users-verify's answers must not depend on being hidden.
    expect(allows(policies, cluster.get('random:default'), cluster.get('gateway:local'), INGRESSES[ingress].localPort)).toBe(true);
    expect(allows(policies, cluster.get('gateway:local'), cluster.fn('users-verify'), 8012)).toBe(true);
  });

  /** Whether a policy selects either end of the flow (so it may decide it). */
  const selectsAnEnd = (policy: StoredPolicy, flow: Flow) =>
    [flow.from, flow.to].some((key) => {
      const endpoint = cluster.get(key);
      return endpoint.kind === 'pod' && endpoint.namespace === policy.namespace && selectorMatches(policy.object.spec.podSelector ?? {}, endpoint.labels);
    });

  it('every allowed flow is let through by a policy: drop those selecting its ends (the default deny stays), and it is denied', () => {
    const unexplained = flows
      .filter((flow) => flow.allowed)
      .filter((flow) => evaluate(cluster, policies.filter((policy) => nameOf(policy.object) === 'default-deny' || !selectsAnEnd(policy, flow)), flow, ingress))
      .map((flow) => `${label(flow)} (${flow.why}) gets through without an allowing policy`);
    expect(unexplained).toEqual([]);
  });

  it('every denied flow is denied by the policies: drop those selecting its ends, and it would get through', () => {
    const vacuous = flows
      .filter((flow) => !flow.allowed)
      .filter((flow) => !evaluate(cluster, policies.filter((policy) => !selectsAnEnd(policy, flow)), flow, ingress))
      .map((flow) => `${label(flow)} (${flow.why}) is denied even without a policy`);
    expect(vacuous).toEqual([]);
  });

  it('every policy is needed: remove any one, and some flow above comes out wrong', () => {
    const unneeded = policies
      .filter((policy) => {
        const without = policies.filter((other) => other !== policy);
        return flows.every((flow) => evaluate(cluster, without, flow, ingress) === flow.allowed);
      })
      .map((policy) => nameOf(policy.object));
    expect(unneeded).toEqual([]);
  });
});

/* ------------------------------------------------------------------------------------------------
 * The manifests: schemas, kustomize, the generator, and agreement with the rest of the project.
 * ---------------------------------------------------------------------------------------------- */

describe('knative/network as committed', () => {
  let generatedDir: string;

  beforeAll(async () => {
    generatedDir = await mkdtemp(join(tmpdir(), 'accounts-network-'));
    await writeManifests(generatedDir, { image: DEFAULT_IMAGE, version });
  });

  afterAll(async () => {
    if (generatedDir) await rm(generatedDir, { recursive: true, force: true });
  });

  it('is byte for byte what `npm run manifests` writes (run it and commit)', async () => {
    const committedFiles = (await readdir(join(ROOT, 'knative', 'network'))).sort();
    const generatedFiles = (await readdir(join(generatedDir, 'network'))).sort();
    expect(committedFiles).toEqual(generatedFiles);
    for (const file of generatedFiles) {
      const generated = await readFile(join(generatedDir, 'network', file), 'utf8');
      expect(await readFile(join(ROOT, 'knative', 'network', file), 'utf8'), `knative/network/${file} differs from the generator's output`).toBe(generated);
    }
  });

  it('holds NetworkPolicies only, a default deny first, each validating against the schema', () => {
    const documents = knative.filter((document) => document.source.startsWith('knative/network/'));
    expect(documents.length).toBeGreaterThanOrEqual(10);
    expect(new Set(documents.map((document) => `${document.object.apiVersion} ${document.object.kind}`))).toEqual(new Set(['networking.k8s.io/v1 NetworkPolicy']));
    expect(problemsOf(documents)).toEqual([]);
    const deny = documents.find((document) => nameOf(document.object) === 'default-deny')!;
    expect(deny.source).toBe('knative/network/100-default-deny.yaml');
    expect(deny.object['spec']).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
  });

  it('builds with kustomize into the accounts namespace, the same policies, and validates', () => {
    const result = kustomize('knative/network');
    expect(result.stderr.trim()).toBe('');
    expect(result.status).toBe(0);
    const built = parseDocuments(result.stdout, 'kubectl kustomize knative/network');
    for (const { object } of built) expect(object.metadata?.['namespace'], nameOf(object)).toBe('accounts');
    expect(built.map(({ object }) => nameOf(object)).sort()).toEqual(
      knative.filter((document) => document.source.startsWith('knative/network/')).map(({ object }) => nameOf(object)).sort(),
    );
    expect(problemsOf(built)).toEqual([]);
  });

  it('is part of the one-shot `kubectl kustomize knative` build', async () => {
    const kustomization = await readFile(join(ROOT, 'knative/kustomization.yaml'), 'utf8');
    expect(kustomization).toMatch(/^ {2}- network$/m);
  });

  it.each((Object.keys(INGRESSES) as IngressName[]).filter((ingress) => ingress !== 'kourier'))('generates valid policies for %s too', (ingress) => {
    const documents = networkPolicies(ingress).flatMap((policy) => parseDocuments(renderNetworkPolicy(policy), `${ingress}/${policy.file}`));
    expect(problemsOf(documents)).toEqual([]);
  });

  it('keeps Postgres closed apart from its clients, consistent with the default deny', () => {
    const postgres = committedPolicies.find((policy) => nameOf(policy) === 'accounts-postgres') as any;
    expect(postgres.spec.policyTypes).toEqual(['Ingress']);
    // Its egress stays under the default deny: Postgres opens no connection.
    const egressFor = committedPolicies.filter((policy: any) => policy.spec.policyTypes.includes('Egress') && selectorMatches(policy.spec.podSelector, { 'app.kubernetes.io/name': 'accounts-postgres', 'app.kubernetes.io/part-of': 'knative-accounts' }));
    expect(egressFor.map(nameOf)).toEqual(['default-deny']);
  });
});

describe('the generator', () => {
  const entry = (overrides: Partial<FunctionSpec>): FunctionSpec => ({ ...INVENTORY.find((spec) => spec.name === 'users-get')!, ...overrides }) as FunctionSpec;
  const render = (inventory: readonly FunctionSpec[], ingress: IngressName = 'kourier') => networkPolicies(ingress, inventory).map((policy) => renderNetworkPolicy(policy)).join('---\n');

  it('gives a new function its flows through its labels, without a new policy', () => {
    const publicFunction = entry({ name: 'reports-echo', domain: 'reports', path: '/reports/{id}/echo', method: 'POST' });
    const brokerFunction = entry({ name: 'notify-hello', domain: 'notify', trigger: 'cloudevent', visibility: 'cluster-local', path: '/', needs: ['database'], eventSource: 'Trigger on `hello_event`' });
    expect(render([...INVENTORY, publicFunction, brokerFunction])).toBe(render(INVENTORY));
    expect(renderService(publicFunction, { image: DEFAULT_IMAGE, version })).toContain(`${POD_LABELS.calledBy}: ingress`);
    const rendered = renderService(brokerFunction, { image: DEFAULT_IMAGE, version });
    expect(rendered).toContain(`${POD_LABELS.calledBy}: broker`);
    expect(rendered).toContain(`${POD_LABELS.databaseClient}: "true"`);
  });

  it('writes a policy for a kind of function only while the inventory has one', () => {
    const names = (inventory: readonly FunctionSpec[]) => networkPolicies('kourier', inventory).map((policy) => policy.name);
    const withoutMail = INVENTORY.filter((spec) => !(spec.needs as readonly string[]).includes('mail'));
    expect(names(INVENTORY)).toContain('mail-senders-to-smtp');
    expect(names(withoutMail)).not.toContain('mail-senders-to-smtp');
    const withoutSignIn = INVENTORY.filter((spec) => !(spec.needs as readonly string[]).includes('signIn'));
    expect(names(withoutSignIn)).not.toContain('users-verify-from-sign-in');
    expect(names(withoutSignIn)).not.toContain('sign-in-to-users-verify');
    // The gateway and knative-serving flows, the default deny and the broker's are always there.
    for (const always of ['default-deny', 'functions-from-knative-serving', 'functions-from-local-gateway', 'broker-ingress', 'broker-dispatchers', 'rabbitmq']) {
      expect(names([]), always).toContain(always);
    }
  });

  it('lets the external gateway in separately only where it is not the local one (Contour)', () => {
    const names = (ingress: IngressName) => networkPolicies(ingress).map((policy) => policy.name);
    expect(names('contour')).toContain('public-functions-from-ingress-gateway');
    expect(names('kourier')).not.toContain('public-functions-from-ingress-gateway');
    expect(names('istio')).not.toContain('public-functions-from-ingress-gateway');
  });

  it('refuses a CloudEvent function whose eventSource names no Knative resource it knows', () => {
    const unknown = entry({ name: 'mystery', trigger: 'cloudevent', visibility: 'cluster-local', eventSource: 'a cron job somewhere' });
    expect(() => calledBy(unknown)).toThrow(/mystery: its eventSource .* names neither a PingSource nor a Trigger/);
  });

  it('`INGRESS=<other>` is refused with the names it knows', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/deploy/manifests.ts', '--out', join(tmpdir(), 'accounts-never-written')], {
      cwd: ROOT,
      env: { ...process.env, INGRESS: 'nginx' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('INGRESS must be one of kourier, istio, contour');
  });
});

describe('the labels the policies select on', () => {
  const services = () => named(knative, 'serving.knative.dev/v1', 'Service');
  const podLabelsOf = (service: KubeObject) => field(service, 'spec', 'template', 'metadata', 'labels') as Record<string, string>;

  it('are on every revision template, as the inventory says', () => {
    for (const service of services()) {
      const spec = INVENTORY.find((candidate) => candidate.name === nameOf(service))!;
      const labels = podLabelsOf(service);
      const needs = spec.needs as readonly string[];
      expect(labels[POD_LABELS.calledBy], nameOf(service)).toBe(calledBy(spec));
      expect(labels[POD_LABELS.databaseClient] === 'true', `${nameOf(service)} database-client`).toBe(needs.includes('database'));
      expect(labels[POD_LABELS.publishesEvents] === 'true', `${nameOf(service)} publishes-events`).toBe(needs.includes('sink'));
      expect(labels[POD_LABELS.callsUsersVerify] === 'true', `${nameOf(service)} calls-users-verify`).toBe(needs.includes('signIn'));
      expect(labels[POD_LABELS.sendsMail] === 'true', `${nameOf(service)} sends-mail`).toBe(needs.includes('mail'));
      // The SinkBinding selects Services by the same label on their own metadata.
      expect(field(service, 'metadata', 'labels', POD_LABELS.publishesEvents) === 'true', `${nameOf(service)} Service label`).toBe(needs.includes('sink'));
    }
  });

  it("say who delivers events the way eventing/ wires them: the PingSource's sink, the Trigger's and Broker's targets", () => {
    const calledByOf = (name: string) => podLabelsOf(services().find((service) => nameOf(service) === name)!)[POD_LABELS.calledBy];
    const ping = only(eventing, 'sources.knative.dev/v1', 'PingSource');
    expect(calledByOf(ping.spec.sink.ref.name)).toBe('ping-source');
    const triggers = named(eventing, 'eventing.knative.dev/v1', 'Trigger') as any[];
    const broker = only(eventing, 'eventing.knative.dev/v1', 'Broker');
    const targets = [...triggers.flatMap((trigger) => [trigger.spec.subscriber.ref.name, trigger.spec.delivery.deadLetterSink.ref.name]), broker.spec.delivery.deadLetterSink.ref.name];
    for (const target of targets) {
      expect(calledByOf(target), target).toBe('broker');
    }
  });

  it('name the Broker, the RabbitmqCluster and users-verify as the rest of the project does', () => {
    expect(nameOf(only(eventing, 'eventing.knative.dev/v1', 'Broker'))).toBe(BROKER);
    expect(nameOf(only(eventing, 'rabbitmq.com/v1beta1', 'RabbitmqCluster'))).toBe(RABBITMQ_CLUSTER);
    const login = services().find((service) => nameOf(service) === 'auth-login')!;
    const url = (field(login, 'spec', 'template', 'spec', 'containers', 0, 'env') as { name: string; value?: string }[]).find((entry) => entry.name === 'USERS_VERIFY_URL')!.value!;
    expect(new URL(url).hostname.split('.')[0]).toBe(USERS_VERIFY);
    expect(services().map(nameOf)).toContain(USERS_VERIFY);
  });
});

describe('the EventPolicy of the Broker', () => {
  it('validates against the EventPolicy schema, as committed and as kustomize builds eventing/', () => {
    const committed = eventing.filter((document) => document.object.kind === 'EventPolicy');
    expect(committed).toHaveLength(1);
    expect(committed[0]!.source).toBe('eventing/600-eventpolicy-accounts-events.yaml');
    expect(problemsOf(committed)).toEqual([]);
    const result = kustomize('eventing');
    expect(result.status).toBe(0);
    const built = parseDocuments(result.stdout, 'kubectl kustomize eventing').filter((document) => document.object.kind === 'EventPolicy');
    expect(built).toHaveLength(1);
    expect(built[0]!.object.metadata?.['namespace']).toBe('accounts');
    expect(problemsOf(built)).toEqual([]);
  });

  it('lets only the publishers (the SinkBinding that gives them K_SINK) send to the Broker', () => {
    const policy = only(eventing, 'eventing.knative.dev/v1alpha1', 'EventPolicy');
    const broker = only(eventing, 'eventing.knative.dev/v1', 'Broker');
    const binding = only(eventing, 'sources.knative.dev/v1', 'SinkBinding');
    expect(policy.spec.to).toEqual([{ ref: { apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', name: nameOf(broker) } }]);
    expect(policy.spec.from).toEqual([{ ref: { apiVersion: 'sources.knative.dev/v1', kind: 'SinkBinding', name: nameOf(binding), namespace: 'accounts' } }]);
    // That SinkBinding binds exactly the publishing functions.
    const bound = named(knative, 'serving.knative.dev/v1', 'Service')
      .filter((service) => selectorMatches(binding.spec.subject.selector, service.metadata?.['labels'] as Record<string, string>))
      .map(nameOf)
      .sort();
    expect(bound).toEqual(needing('sink').sort());
  });

  it('is labelled so that make deploy applies it only where authentication-oidc is on, and says so', async () => {
    const policy = only(eventing, 'eventing.knative.dev/v1alpha1', 'EventPolicy');
    expect(policy.metadata.labels['accounts.knative.dev/requires-feature']).toBe('authentication-oidc');
    const text = await readFile(join(ROOT, 'eventing/600-eventpolicy-accounts-events.yaml'), 'utf8');
    expect(text).toMatch(/^# .*Enforced only where Knative Eventing's authentication-oidc feature is on.*inert otherwise\.$/m);
    const kustomization = await readFile(join(ROOT, 'eventing/kustomization.yaml'), 'utf8');
    expect(kustomization).toMatch(/^ {2}- 600-eventpolicy-accounts-events\.yaml$/m);
  });
});
