import { eventSourceText } from '../../functions/contracts/events/catalogue.js';
import { INVENTORY, type FunctionSpec } from '../../functions/inventory.js';
import type { Need } from '../../functions/shared/config.js';
import { BROKER, PART_OF, POD_LABELS, RABBITMQ_CLUSTER, USERS_VERIFY } from './namespace.js';
import { noted, yamlText } from './yaml-text.js';

/*
 * The network policies (knative/network/): a default deny for the namespace, then only the flows the
 * system needs. They select pods by the labels the Services put on every revision's pods (from the
 * inventory), so a function added to the inventory gets its flows without a new policy; a policy for
 * a kind of function appears only while the inventory has one.
 */

export type CalledBy = 'ingress' | 'functions' | 'broker' | 'ping-source';

/**
 * Who opens connections to a function's pods: the ingress gateway (public functions), other
 * functions (cluster-local HTTP ones), the broker's dispatchers or the PingSource adapter (CloudEvent
 * functions, told apart by the Knative resource that feeds them: a Trigger of the event catalogue, or
 * what their inventory entry's eventSource names).
 */
export function calledBy(spec: FunctionSpec): CalledBy {
  if (spec.visibility === 'public') return 'ingress';
  if (spec.trigger === 'http') return 'functions';
  const source = eventSourceText(spec) ?? '';
  if (/^PingSource\b/.test(source)) return 'ping-source';
  if (/\bTriggers?\b/.test(source)) return 'broker';
  throw new Error(`${spec.name}: its eventSource (${JSON.stringify(source)}) names neither a PingSource nor a Trigger, so no policy knows who delivers its events`);
}

type Labels = Readonly<Record<string, string>>;

export interface LabelSelectorSpec {
  readonly matchLabels?: Labels;
  readonly matchExpressions?: readonly { readonly key: string; readonly operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; readonly values?: readonly string[] }[];
}

export interface PolicyPeer {
  /** One line above the peer: what it is, and where its namespace and labels come from. */
  readonly comment: string;
  /** Pods of another namespace (by name); without it, pods of this namespace. */
  readonly namespace?: string;
  readonly pods?: LabelSelectorSpec;
  readonly ipBlock?: { readonly cidr: string; readonly except: readonly string[] };
}

export interface PolicyPort {
  readonly port: number;
  readonly endPort?: number;
  readonly protocol?: 'TCP' | 'UDP';
  readonly comment?: string;
}

export interface PolicyRule {
  readonly peers: readonly PolicyPeer[];
  readonly ports: readonly PolicyPort[];
}

export interface NetworkPolicySpec {
  readonly file: string;
  readonly name: string;
  /** The comment at the top of the file: what the policy allows and why. */
  readonly summary: string;
  readonly pods: LabelSelectorSpec;
  /** Present (even empty) isolates the selected pods in that direction; the rules are what is let through. */
  readonly ingress?: readonly PolicyRule[];
  readonly egress?: readonly PolicyRule[];
}

/** Where an ingress runs the gateway pods that proxy to revisions, from its release manifests. */
export interface IngressGateways {
  readonly title: string;
  /** The gateway behind public (external) URLs. */
  readonly external: PolicyPeer;
  /** The gateway behind cluster-local URLs (`<service>.<namespace>.svc.cluster.local` is an ExternalName to it). */
  readonly local: PolicyPeer;
  /** The port of the local gateway's pods that its Service's port 80 leads to. */
  readonly localPort: number;
}

const podsIn = (namespace: string, labels: Labels, comment: string): PolicyPeer => ({ namespace, pods: { matchLabels: labels }, comment });

const KOURIER_GATEWAY = podsIn('kourier-system', { app: '3scale-kourier-gateway' }, "Kourier's gateway pods, for external and cluster-local URLs (net-kourier config/300-gateway.yaml).");
const ISTIO_GATEWAY = podsIn('istio-system', { istio: 'ingressgateway' }, "Istio's ingress gateway pods, which knative-ingress-gateway and knative-local-gateway select (net-istio config/20*-gateway.yaml).");

/** The ingresses docs/deploying.md covers; `INGRESS=<name> npm run manifests` picks one (Kourier by default, as docs/deploying.md installs). */
export const INGRESSES = {
  kourier: { title: 'Kourier', external: KOURIER_GATEWAY, local: KOURIER_GATEWAY, localPort: 8081 },
  istio: { title: 'Istio', external: ISTIO_GATEWAY, local: ISTIO_GATEWAY, localPort: 8081 },
  contour: {
    title: 'Contour',
    external: podsIn('contour-external', { app: 'envoy' }, "Contour's external Envoy pods (net-contour config/contour/external.yaml, visibility ExternalIP in config-contour)."),
    local: podsIn('contour-internal', { app: 'envoy' }, "Contour's internal Envoy pods (net-contour config/contour/internal.yaml, visibility ClusterLocal in config-contour)."),
    localPort: 8080,
  },
} as const satisfies Record<string, IngressGateways>;

export type IngressName = keyof typeof INGRESSES;
export const DEFAULT_INGRESS: IngressName = 'kourier';

export function isIngressName(name: string): name is IngressName {
  return Object.hasOwn(INGRESSES, name);
}

/**
 * The namespace whose pods may scrape metrics (Prometheus, as kube-prometheus-stack and the
 * Prometheus Operator install it): every pod of it, selected by the name label the API server puts on
 * every namespace. To scrape from another namespace, change it here, run `npm run manifests`, and
 * change the same name in knative/overlays/cloudnativepg/postgres/300-network-policies.yaml (a test
 * holds the two together).
 */
export const MONITORING_NAMESPACE = 'monitoring';
const PROMETHEUS: PolicyPeer = {
  namespace: MONITORING_NAMESPACE,
  comment: `Every pod of the ${MONITORING_NAMESPACE} namespace, where Prometheus runs (MONITORING_NAMESPACE in scripts/deploy/network-policies.ts).`,
};

const ACTIVATOR = podsIn('knative-serving', { app: 'activator' }, 'The activator, in the path while a revision scales from zero or bursts (knative/serving config/core/deployments/activator.yaml).');
const AUTOSCALER = podsIn('knative-serving', { app: 'autoscaler' }, "The autoscaler, scraping queue-proxy's metrics (knative/serving config/core/deployments/autoscaler.yaml).");
const PING_ADAPTER = podsIn(
  'knative-eventing',
  { 'eventing.knative.dev/source': 'ping-source-controller', 'sources.knative.dev/role': 'adapter' },
  "The PingSource adapter, which sends every PingSource's events (knative/eventing config/core/deployments/pingsource-mt-adapter.yaml).",
);
const KUBE_DNS = podsIn('kube-system', { 'k8s-app': 'kube-dns' }, 'The cluster DNS: CoreDNS keeps the kube-dns label (kubernetes cluster/addons/dns/coredns).');
const RABBITMQ_OPERATORS = podsIn(
  'rabbitmq-system',
  { 'app.kubernetes.io/component': 'rabbitmq-operator' },
  'The RabbitMQ cluster and messaging topology operators (rabbitmq/cluster-operator config/manager/manager.yaml).',
);
const BROKER_INGRESS: PolicyPeer = {
  pods: { matchLabels: { 'eventing.knative.dev/broker': BROKER, 'eventing.knative.dev/brokerRole': 'ingress' } },
  comment: "The RabbitMQ broker's ingress, run in the Broker's namespace (eventing-rabbitmq pkg/reconciler/broker/resources/ingress.go).",
};
const DISPATCHERS: PolicyPeer = {
  pods: {
    matchLabels: { 'eventing.knative.dev/broker': BROKER },
    matchExpressions: [{ key: 'eventing.knative.dev/brokerRole', operator: 'In', values: ['dispatcher', 'dispatcher-dlq'] }],
  },
  comment: "The broker's Trigger and dead-letter dispatchers, run here too (eventing-rabbitmq pkg/reconciler/{trigger,broker}/resources/dispatcher.go).",
};
const RABBITMQ_NODES: PolicyPeer = {
  pods: { matchLabels: { 'app.kubernetes.io/name': RABBITMQ_CLUSTER, 'app.kubernetes.io/component': 'rabbitmq' } },
  comment: 'The RabbitMQ nodes (rabbitmq/cluster-operator internal/metadata/label.go).',
};
const POSTGRES: PolicyPeer = { pods: { matchLabels: { 'app.kubernetes.io/name': 'accounts-postgres' } }, comment: 'The Postgres StatefulSet (knative/postgres/).' };
const withLabel = (key: string, value: string, comment: string): PolicyPeer => ({ pods: { matchLabels: { [key]: value } }, comment });
const PUBLISHERS = withLabel(POD_LABELS.publishesEvents, 'true', 'The functions that publish events (auth-login, outbox-relay).');
const SUBSCRIBERS = withLabel(POD_LABELS.calledBy, 'broker', "The functions the broker delivers to (Trigger subscribers, dead-letter sinks).");
const USERS_VERIFY_PODS: PolicyPeer = {
  pods: { matchLabels: { 'serving.knative.dev/service': USERS_VERIFY } },
  comment: `${USERS_VERIFY}'s pods (Knative labels every revision pod with its Service).`,
};

const QUEUE_PROXY: PolicyPort = { port: 8012, comment: "queue-proxy's HTTP port, the only way in to the function (knative/serving pkg/networking/constants.go)." };
const QUEUE_PROXY_METRICS: PolicyPort = { port: 9090, comment: "queue-proxy's metrics for the autoscaler (pkg/networking/constants.go)." };
const QUEUE_PROXY_USER_METRICS: PolicyPort = { port: 9091, comment: "queue-proxy's request metrics in Prometheus format (pkg/networking/constants.go)." };
const RABBITMQ_PROMETHEUS: PolicyPort = { port: 15692, comment: "RabbitMQ's Prometheus metrics (rabbitmq_prometheus plugin, which the cluster operator enables)." };
const DNS: PolicyRule = { peers: [KUBE_DNS], ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }] };
const BROKER_INGRESS_PORT: PolicyPort = { port: 8080, comment: "The ingress container's port, behind its Service's port 80." };
const AMQP: PolicyPort = { port: 5672 };
const RABBITMQ_BETWEEN_NODES: readonly PolicyPort[] = [
  { port: 4369, comment: 'epmd (ports as rabbitmq/cluster-operator docs/examples/network-policies lists them).' },
  { port: 25672, comment: 'Erlang distribution: clustering and quorum queue replication.' },
  { port: 35672, endPort: 35682, comment: 'CLI tools.' },
];
/** Where the mail server may be: anywhere but the private, shared and link-local ranges a cluster uses. */
const OUTSIDE_THE_CLUSTER: readonly PolicyPeer[] = [
  { ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16'] }, comment: 'Any public IPv4 address.' },
  { ipBlock: { cidr: '::/0', except: ['fc00::/7', 'fe80::/10'] }, comment: 'Any public IPv6 address.' },
];

const ALL_FUNCTIONS: LabelSelectorSpec = { matchLabels: { 'app.kubernetes.io/part-of': PART_OF }, matchExpressions: [{ key: POD_LABELS.calledBy, operator: 'Exists' }] };
const calledByPods = (role: CalledBy): LabelSelectorSpec => ({ matchLabels: { [POD_LABELS.calledBy]: role } });
const labelled = (key: string): LabelSelectorSpec => ({ matchLabels: { [key]: 'true' } });

/** The namespace's network policies for this inventory, behind the given ingress. */
export function networkPolicies(ingress: IngressName = DEFAULT_INGRESS, inventory: readonly FunctionSpec[] = INVENTORY): NetworkPolicySpec[] {
  const gateways: IngressGateways = INGRESSES[ingress];
  // Kourier and Istio serve external and cluster-local URLs from the same pods: one policy lets them in.
  const sameGateway = gateways.external === gateways.local;
  const toLocalGateway: PolicyRule = {
    peers: [gateways.local],
    ports: [{ port: gateways.localPort, comment: 'The port behind the local gateway Service port 80 (a cluster-local URL is an ExternalName to that Service).' }],
  };
  const any = (predicate: (spec: FunctionSpec) => boolean) => inventory.some(predicate);
  const needing = (need: Need) => (spec: FunctionSpec) => (spec.needs as readonly Need[]).includes(need);
  const calledByAny = (role: CalledBy) => any((spec) => calledBy(spec) === role);
  const policies: (NetworkPolicySpec | false)[] = [
    {
      file: '100-default-deny.yaml',
      name: 'default-deny',
      summary: 'Nothing reaches or leaves a pod of this namespace unless a policy below lets it.',
      pods: {},
      ingress: [],
      egress: [],
    },
    {
      file: '200-functions-from-knative-serving.yaml',
      name: 'functions-from-knative-serving',
      summary: 'Every function: requests through the activator, metrics scraped by the autoscaler.',
      pods: ALL_FUNCTIONS,
      ingress: [
        { peers: [ACTIVATOR], ports: [QUEUE_PROXY] },
        { peers: [AUTOSCALER], ports: [QUEUE_PROXY_METRICS] },
      ],
    },
    {
      file: '210-functions-from-local-gateway.yaml',
      name: 'functions-from-local-gateway',
      summary:
        `Every function: calls to its cluster-local URL, which ${gateways.title}'s local gateway proxies (it cannot tell one caller from another)` +
        (sameGateway ? '; the same pods serve the public URLs, so the public functions need nothing more.' : '.'),
      pods: ALL_FUNCTIONS,
      ingress: [{ peers: [gateways.local], ports: [QUEUE_PROXY] }],
    },
    !sameGateway && calledByAny('ingress') && {
      file: '220-public-functions-from-ingress-gateway.yaml',
      name: 'public-functions-from-ingress-gateway',
      summary: `The public functions: requests to their public URLs, through ${gateways.title}'s gateway.`,
      pods: calledByPods('ingress'),
      ingress: [{ peers: [gateways.external], ports: [QUEUE_PROXY] }],
    },
    any(needing('signIn')) && {
      file: '230-users-verify-from-sign-in.yaml',
      name: 'users-verify-from-sign-in',
      summary: `${USERS_VERIFY}: straight from the sign-in functions' pods, as a mesh sidecar sends it (otherwise calls come through the gateway).`,
      pods: USERS_VERIFY_PODS.pods!,
      ingress: [{ peers: [withLabel(POD_LABELS.callsUsersVerify, 'true', `The functions that call ${USERS_VERIFY} (auth-login).`)], ports: [QUEUE_PROXY] }],
    },
    calledByAny('broker') && {
      file: '240-broker-subscribers-from-dispatchers.yaml',
      name: 'broker-subscribers-from-dispatchers',
      summary: "The functions the broker delivers to: straight from its dispatchers' pods, as a mesh sidecar sends it (otherwise deliveries come through the gateway).",
      pods: calledByPods('broker'),
      ingress: [{ peers: [DISPATCHERS], ports: [QUEUE_PROXY] }],
    },
    calledByAny('ping-source') && {
      file: '250-ping-targets-from-pingsource.yaml',
      name: 'ping-targets-from-pingsource',
      summary: 'The functions a PingSource starts: straight from the PingSource adapter, as a mesh sidecar sends it (otherwise pings come through the gateway).',
      pods: calledByPods('ping-source'),
      ingress: [{ peers: [PING_ADAPTER], ports: [QUEUE_PROXY] }],
    },
    {
      file: '260-functions-from-prometheus.yaml',
      name: 'functions-from-prometheus',
      summary: `Every function: Prometheus, in the ${MONITORING_NAMESPACE} namespace, scrapes its queue-proxy's metrics.`,
      pods: ALL_FUNCTIONS,
      ingress: [{ peers: [PROMETHEUS], ports: [QUEUE_PROXY_METRICS, QUEUE_PROXY_USER_METRICS] }],
    },
    {
      file: '300-workloads-to-dns.yaml',
      name: 'workloads-to-dns',
      summary: 'Every function and the migration Job resolve names (Postgres, the broker, users-verify, the mail server).',
      pods: { matchLabels: { 'app.kubernetes.io/part-of': PART_OF }, matchExpressions: [{ key: 'app.kubernetes.io/name', operator: 'NotIn', values: ['accounts-postgres'] }] },
      egress: [DNS],
    },
    any(needing('database')) && {
      file: '310-database-clients-to-postgres.yaml',
      name: 'database-clients-to-postgres',
      summary: 'The functions that need the database, and the migration Job, to Postgres (whose own policy in knative/postgres/ lets them in).',
      pods: labelled(POD_LABELS.databaseClient),
      egress: [{ peers: [POSTGRES], ports: [{ port: 5432 }] }],
    },
    any(needing('signIn')) && {
      file: '320-sign-in-to-users-verify.yaml',
      name: 'sign-in-to-users-verify',
      summary: `The sign-in functions to ${USERS_VERIFY}: its cluster-local URL leads through the local gateway, which proxies to its pods or the activator.`,
      pods: labelled(POD_LABELS.callsUsersVerify),
      egress: [toLocalGateway, { peers: [USERS_VERIFY_PODS, ACTIVATOR], ports: [QUEUE_PROXY] }],
    },
    any(needing('sink')) && {
      file: '330-publishers-to-broker-ingress.yaml',
      name: 'publishers-to-broker-ingress',
      summary: "The event publishers to the broker's ingress (K_SINK).",
      pods: labelled(POD_LABELS.publishesEvents),
      egress: [{ peers: [BROKER_INGRESS], ports: [BROKER_INGRESS_PORT] }],
    },
    any(needing('mail')) && {
      file: '340-mail-senders-to-smtp.yaml',
      name: 'mail-senders-to-smtp',
      summary: 'The functions that send mail to the mail server (SMTP_URL), outside the cluster.',
      pods: labelled(POD_LABELS.sendsMail),
      egress: [{ peers: OUTSIDE_THE_CLUSTER, ports: [{ port: 25, comment: 'SMTP.' }, { port: 465, comment: 'SMTP over TLS (smtps://).' }, { port: 587, comment: 'Submission (STARTTLS).' }] }],
    },
    {
      file: '400-broker-ingress.yaml',
      name: 'broker-ingress',
      summary: "The broker's ingress: events from the publishers (and the replies its dispatchers forward) into RabbitMQ.",
      pods: BROKER_INGRESS.pods!,
      ingress: [{ peers: [PUBLISHERS, DISPATCHERS], ports: [BROKER_INGRESS_PORT] }],
      egress: [DNS, { peers: [RABBITMQ_NODES], ports: [AMQP] }],
    },
    {
      file: '410-broker-dispatchers.yaml',
      name: 'broker-dispatchers',
      summary: "The broker's dispatchers: from RabbitMQ to the subscribers' cluster-local URLs (through the local gateway, to their pods or the activator).",
      pods: DISPATCHERS.pods!,
      egress: [
        DNS,
        { peers: [RABBITMQ_NODES], ports: [AMQP] },
        { peers: [BROKER_INGRESS], ports: [{ ...BROKER_INGRESS_PORT, comment: 'Events a subscriber answers with go back to the broker (BROKER_INGRESS_URL).' }] },
        toLocalGateway,
        { peers: [SUBSCRIBERS, ACTIVATOR], ports: [QUEUE_PROXY] },
      ],
    },
    {
      file: '500-rabbitmq.yaml',
      name: 'rabbitmq',
      summary: 'The RabbitMQ nodes: AMQP from the broker, the HTTP API from the operators, metrics to Prometheus, and clustering between themselves.',
      pods: RABBITMQ_NODES.pods!,
      ingress: [
        { peers: [BROKER_INGRESS, DISPATCHERS], ports: [AMQP] },
        { peers: [RABBITMQ_OPERATORS], ports: [{ port: 15672, comment: 'The HTTP API (management plugin).' }] },
        { peers: [PROMETHEUS], ports: [RABBITMQ_PROMETHEUS] },
        { peers: [RABBITMQ_NODES], ports: RABBITMQ_BETWEEN_NODES },
      ],
      egress: [DNS, { peers: [RABBITMQ_NODES], ports: RABBITMQ_BETWEEN_NODES }],
    },
  ];
  return policies.filter((policy): policy is NetworkPolicySpec => policy !== false);
}

/** The label selector as the API takes it; an empty one selects every pod of the namespace. */
function selectorObject(selector: LabelSelectorSpec): Record<string, unknown> {
  return { matchLabels: selector.matchLabels, matchExpressions: selector.matchExpressions };
}

function peerObject(peer: PolicyPeer) {
  return noted(peer.comment, {
    ipBlock: peer.ipBlock,
    namespaceSelector: peer.namespace ? { matchLabels: { 'kubernetes.io/metadata.name': peer.namespace } } : undefined,
    podSelector: peer.pods ? selectorObject(peer.pods) : undefined,
  });
}

function portObject(port: PolicyPort) {
  const object = { protocol: port.protocol ?? 'TCP', port: port.port, endPort: port.endPort };
  return port.comment ? noted(port.comment, object) : object;
}

/** The rules of one direction; none written when there are none (the policy type alone then denies it all). */
function rulesObject(direction: 'ingress' | 'egress', rules: readonly PolicyRule[] | undefined) {
  if (!rules || rules.length === 0) return undefined;
  const peersKey = direction === 'ingress' ? 'from' : 'to';
  return rules.map((rule) => ({ [peersKey]: rule.peers.map(peerObject), ports: rule.ports.map(portObject) }));
}

/** The NetworkPolicy object, with the comments its file carries. */
export function networkPolicyObject(policy: NetworkPolicySpec) {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: policy.name, labels: { 'app.kubernetes.io/part-of': PART_OF } },
    spec: {
      podSelector: selectorObject(policy.pods),
      policyTypes: [...(policy.ingress ? ['Ingress'] : []), ...(policy.egress ? ['Egress'] : [])],
      ingress: rulesObject('ingress', policy.ingress),
      egress: rulesObject('egress', policy.egress),
    },
  };
}

export function renderNetworkPolicy(policy: NetworkPolicySpec): string {
  return yamlText(networkPolicyObject(policy), [
    'Generated by `npm run manifests` (scripts/deploy/network-policies.ts, from functions/inventory.ts); edit the generator, not this file.',
    policy.summary,
  ]);
}
