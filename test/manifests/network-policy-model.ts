import { BlockList, isIPv6 } from 'node:net';
import { selectorMatches, type LabelSelector } from './manifest-support.js';

/* ------------------------------------------------------------------------------------------------
 * The evaluator: which connections a set of NetworkPolicies lets through (networking.k8s.io/v1).
 * ---------------------------------------------------------------------------------------------- */

export type Protocol = 'TCP' | 'UDP';

export interface Pod {
  readonly kind: 'pod';
  readonly name: string;
  readonly namespace: string;
  readonly labels: Record<string, string>;
  readonly ip: string;
}

export interface External {
  readonly kind: 'external';
  readonly name: string;
  readonly ip: string;
}

export type Endpoint = Pod | External;

/** A NetworkPolicy as stored: its namespace (the kustomizations put ours in accounts) and object. */
export interface StoredPolicy {
  readonly namespace: string;
  readonly object: any;
}

/** Every namespace carries its name as a label (set by the API server since Kubernetes 1.22). */
export const namespaceLabels = (namespace: string): Record<string, string> => ({ 'kubernetes.io/metadata.name': namespace });

function policyTypes(spec: any): string[] {
  // Without policyTypes: Ingress always, Egress when the policy has egress rules.
  return spec.policyTypes ?? ['Ingress', ...(spec.egress ? ['Egress'] : [])];
}

function inCidr(ip: string, cidr: string): boolean {
  const [network, prefix] = cidr.split('/') as [string, string];
  const family = isIPv6(network) ? 'ipv6' : 'ipv4';
  if ((family === 'ipv6') !== isIPv6(ip)) return false;
  const list = new BlockList();
  list.addSubnet(network, Number(prefix), family);
  return list.check(ip, family);
}

/** Whether one `from`/`to` entry matches the endpoint, for a policy of policyNamespace. */
function peerMatches(peer: any, policyNamespace: string, endpoint: Endpoint): boolean {
  if (peer.ipBlock) return inCidr(endpoint.ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((cidr: string) => inCidr(endpoint.ip, cidr));
  // Pod and namespace selectors match pods only, never addresses outside the cluster.
  if (endpoint.kind !== 'pod') return false;
  // Alone, a podSelector means pods of the policy's own namespace; with a namespaceSelector, both must match.
  const namespaceOk = peer.namespaceSelector
    ? selectorMatches(peer.namespaceSelector as LabelSelector, namespaceLabels(endpoint.namespace))
    : endpoint.namespace === policyNamespace;
  const podOk = peer.podSelector ? selectorMatches(peer.podSelector as LabelSelector, endpoint.labels) : true;
  return namespaceOk && podOk;
}

function portMatches(ports: any[] | undefined, port: number, protocol: Protocol): boolean {
  if (!ports || ports.length === 0) return true;
  return ports.some((entry) => {
    if ((entry.protocol ?? 'TCP') !== protocol) return false;
    if (entry.port === undefined) return true;
    if (typeof entry.port !== 'number') throw new Error(`named port ${String(entry.port)}: the model has none`);
    return entry.endPort === undefined ? port === entry.port : port >= entry.port && port <= entry.endPort;
  });
}

/** Whether `pod` may send (Egress) to / receive (Ingress) from `other` on port/protocol. */
function directionAllows(policies: readonly StoredPolicy[], pod: Pod, direction: 'Ingress' | 'Egress', other: Endpoint, port: number, protocol: Protocol): boolean {
  const selecting = policies.filter(
    (policy) => policy.namespace === pod.namespace && policyTypes(policy.object.spec).includes(direction) && selectorMatches(policy.object.spec.podSelector ?? {}, pod.labels),
  );
  // A pod no policy selects for this direction is not isolated in it.
  if (selecting.length === 0) return true;
  return selecting.some((policy) =>
    ((direction === 'Ingress' ? policy.object.spec.ingress : policy.object.spec.egress) ?? []).some((rule: any) => {
      const peers: any[] | undefined = direction === 'Ingress' ? rule.from : rule.to;
      const peerOk = !peers || peers.length === 0 || peers.some((peer) => peerMatches(peer, policy.namespace, other));
      return peerOk && portMatches(rule.ports, port, protocol);
    }),
  );
}

/** A connection is let through when the source's egress and the destination's ingress both allow it. */
export function allows(policies: readonly StoredPolicy[], from: Endpoint, to: Endpoint, port: number, protocol: Protocol = 'TCP'): boolean {
  const egress = from.kind === 'pod' ? directionAllows(policies, from, 'Egress', to, port, protocol) : true;
  const ingress = to.kind === 'pod' ? directionAllows(policies, to, 'Ingress', from, port, protocol) : true;
  return egress && ingress;
}
