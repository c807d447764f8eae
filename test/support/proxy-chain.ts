import { INGRESS_SETTINGS, type IngressSetting } from '../../scripts/deploy/client-addresses.js';
import type { IngressName } from '../../scripts/deploy/network-policies.js';

/**
 * What each proxy between a client and a function on Knative does to the request, as small pure
 * functions, so a test can build the exact X-Forwarded-For a function receives:
 * - Envoy (Kourier's, Istio's and Contour's gateway): with `use_remote_address` it appends its
 *   downstream peer, joined with "," (Envoy's Utility::appendXff); without it the header passes as
 *   it came (the HTTP connection manager's "transparent mode"). With the PROXY protocol listener
 *   filter the downstream peer is the source the PROXY header names.
 * - The activator and the queue-proxy (knative/serving pkg/http/proxy.go, Go's
 *   httputil.ReverseProxy with a Director): append their peer, joined with ", ".
 * - The queue-proxy reaches the function over 127.0.0.1 (pkg/queue/sharedmain/main.go), so the
 *   function's socket peer is loopback.
 * - kube-proxy in front of a LoadBalancer Service: with externalTrafficPolicy Cluster the packets
 *   are source-NATed to the node's address; with Local they keep the client's.
 */

/** A request on one connection: who opened it, and what it carries. */
export interface Hop {
  /** The source address of the connection (what the next proxy sees as its peer). */
  readonly peer: string;
  readonly forwardedFor?: string;
  /** A PROXY protocol header's source address, when a load balancer sent one. */
  readonly proxyProtocolSource?: string;
}

/** What the function sees: its socket's peer and the header. */
export interface Arrival {
  readonly remoteAddress: string;
  readonly forwardedFor: string | undefined;
}

export type Proxy = (hop: Hop) => Hop;

const append = (header: string | undefined, address: string, separator: string) => (header ? `${header}${separator}${address}` : address);

/** A client at `address`, sending its own X-Forwarded-For when given (a spoof attempt, or a proxy of its own). */
export function client(address: string, forwardedFor?: string): Hop {
  return forwardedFor === undefined ? { peer: address } : { peer: address, forwardedFor };
}

/** An L4 load balancer and kube-proxy in front of the gateway's LoadBalancer Service. */
export function l4LoadBalancer(options: { readonly externalTrafficPolicy: 'Local' | 'Cluster'; readonly node: string; readonly proxyProtocol?: boolean }): Proxy {
  return (hop) => ({
    ...hop,
    peer: options.externalTrafficPolicy === 'Cluster' ? options.node : hop.peer,
    ...(options.proxyProtocol ? { proxyProtocolSource: hop.peer } : {}),
  });
}

/**
 * A cloud load balancer that proxies HTTP: appends its peer (and, like Google's, its own front-end
 * address when given) to X-Forwarded-For and connects from its proxy address.
 */
export function httpLoadBalancer(options: { readonly connectsFrom: string; readonly frontEnd?: string }): Proxy {
  return (hop) => {
    const withClient = append(hop.forwardedFor, hop.peer, ', ');
    return { peer: options.connectsFrom, forwardedFor: options.frontEnd ? append(withClient, options.frontEnd, ', ') : withClient };
  };
}

export interface EnvoySettings {
  readonly useRemoteAddress: boolean;
  /** The PROXY protocol listener filter on the external listener. */
  readonly proxyProtocol: boolean;
}

/** The gateway's Envoy, in a pod at `podAddress`. */
export function envoy(settings: EnvoySettings, podAddress: string): Proxy {
  return (hop) => {
    if (settings.proxyProtocol && hop.proxyProtocolSource === undefined) throw new Error('the PROXY protocol listener refuses a connection without a PROXY header');
    const downstream = settings.proxyProtocol ? (hop.proxyProtocolSource as string) : hop.peer;
    return { peer: podAddress, forwardedFor: settings.useRemoteAddress ? append(hop.forwardedFor, downstream, ',') : hop.forwardedFor };
  };
}

/** The activator, or the queue-proxy on its way in: Go's ReverseProxy, in a pod at `podAddress`. */
export function goReverseProxy(podAddress: string): Proxy {
  return (hop) => ({ peer: podAddress, forwardedFor: append(hop.forwardedFor, hop.peer, ', ') });
}

/** The queue-proxy: appends its peer and hands the request to the function over loopback. */
export const queueProxy: Proxy = goReverseProxy('127.0.0.1');

/** The request through every proxy in order, as the function receives it. */
export function through(start: Hop, ...proxies: readonly Proxy[]): Arrival {
  const last = proxies.reduce((hop, proxy) => proxy(hop), start);
  return { remoteAddress: last.peer, forwardedFor: last.forwardedFor };
}

/** What an ingress looks like once `make deploy` has applied its settings over the defaults its release ships. */
export interface DeployedIngress {
  readonly envoy: EnvoySettings;
  readonly externalTrafficPolicy: 'Local' | 'Cluster';
}

/** net-kourier's config-kourier defaults (config/200-config.yaml) and what its connection manager makes of them. */
const KOURIER_DEFAULTS = { 'use-remote-address': 'false', 'enable-proxy-protocol': 'false' };

function kourierEnvoy(configKourier: Readonly<Record<string, string>>): EnvoySettings {
  const proxyProtocol = configKourier['enable-proxy-protocol'] === 'true';
  // pkg/envoy/api/http_connection_manager.go: the PROXY protocol forces use_remote_address on.
  return { useRemoteAddress: configKourier['use-remote-address'] === 'true' || proxyProtocol, proxyProtocol };
}

/**
 * An ingress with the given settings applied over what its release installs: net-kourier's
 * defaults, Istio's gateway and Contour's Envoy (which always use the remote address), and a
 * LoadBalancer Service whose policy is Cluster unless set (net-contour's is Local already).
 * `operator` adds settings an operator chose (the PROXY protocol).
 */
export function deployedIngress(ingress: IngressName, settings: readonly IngressSetting[] = INGRESS_SETTINGS[ingress], operator: Readonly<Record<string, string>> = {}): DeployedIngress {
  const patched = (kind: IngressSetting['kind']) => settings.filter((setting) => setting.kind === kind).map((setting) => setting.patch as Record<string, Record<string, string>>);
  const configKourier = Object.assign({}, KOURIER_DEFAULTS, ...patched('ConfigMap').map((patch) => patch['data']), operator);
  const policy = patched('Service').map((patch) => patch['spec']?.['externalTrafficPolicy']).find((value) => value !== undefined);
  return {
    envoy: ingress === 'kourier' ? kourierEnvoy(configKourier) : { useRemoteAddress: true, proxyProtocol: operator['enable-proxy-protocol'] === 'true' },
    externalTrafficPolicy: policy === 'Local' || policy === 'Cluster' ? policy : ingress === 'contour' ? 'Local' : 'Cluster',
  };
}

/** A cluster of realistic shape: nodes in 10.128.0.0/20, pods in 10.244.0.0/16 and fd00:10:244::/56. */
export const TEST_CLUSTER = {
  node: '10.128.0.5',
  gatewayPod: '10.244.1.14',
  activatorPod: '10.244.2.7',
  gatewayPod6: 'fd00:10:244:1::e',
  activatorPod6: 'fd00:10:244:2::7',
  /** What docs/deploying.md has the operator put into TRUSTED_PROXY_CIDRS: the pod networks, not the nodes'. */
  podNetworks: '10.244.0.0/16,fd00:10:244::/56',
};

/**
 * A client's request to a public function in TEST_CLUSTER: Kourier as `make deploy` sets it up
 * (behind its LoadBalancer Service), the activator, the queue-proxy. An IPv6 client goes through
 * the IPv6 pod addresses.
 */
export function throughKnative(start: Hop): Arrival {
  const ipv6 = start.peer.includes(':');
  const kourier = deployedIngress('kourier');
  return through(
    start,
    l4LoadBalancer({ externalTrafficPolicy: kourier.externalTrafficPolicy, node: TEST_CLUSTER.node }),
    envoy(kourier.envoy, ipv6 ? TEST_CLUSTER.gatewayPod6 : TEST_CLUSTER.gatewayPod),
    goReverseProxy(ipv6 ? TEST_CLUSTER.activatorPod6 : TEST_CLUSTER.activatorPod),
    queueProxy,
  );
}
