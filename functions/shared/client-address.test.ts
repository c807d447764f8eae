import { describe, expect, it } from 'vitest';
import { INGRESS_SETTINGS } from '../../scripts/deploy/client-addresses.js';
import { INGRESSES, type IngressName } from '../../scripts/deploy/network-policies.js';
import {
  client,
  deployedIngress,
  envoy,
  goReverseProxy,
  httpLoadBalancer,
  l4LoadBalancer,
  queueProxy,
  TEST_CLUSTER,
  through,
  throughKnative,
  type Arrival,
  type DeployedIngress,
  type Proxy,
} from '../../test/support/proxy-chain.js';
import { clientKey, createClientAddressResolver, parseTrustedProxyCidrs } from './client-address.js';
import { configVariableNames, ConfigError, parseConfig } from './config.js';

const { node: NODE, gatewayPod: GATEWAY_POD, activatorPod: ACTIVATOR_POD, gatewayPod6: GATEWAY_POD_6, activatorPod6: ACTIVATOR_POD_6, podNetworks: POD_NETWORKS } = TEST_CLUSTER;
/** The functions' default before this change: loopback and every private, shared and link-local range. */
const OLD_DEFAULT = '127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10,169.254.0.0/16,fc00::/7,fe80::/10';

const REAL_CLIENT = '203.0.113.7';
const SPOOF = '198.51.100.66, 10.244.9.9';

const resolverTrusting = (cidrs: string) => {
  const { cidrs: trusted, problems } = parseTrustedProxyCidrs(cidrs);
  expect(problems).toEqual([]);
  return createClientAddressResolver({ trusted });
};
const resolveArrival = (arrival: Arrival, trusted = POD_NETWORKS) =>
  resolverTrusting(trusted).resolve(arrival.remoteAddress, (name) => (name === 'x-forwarded-for' ? arrival.forwardedFor : undefined));

/** The way in from the internet to the gateway, then on to the function: straight to the revision's pod, or through the activator. */
const PATHS = {
  'straight to the revision': (_gatewayPod: string) => [] as Proxy[],
  'through the activator (scaled to zero, or a burst)': (gatewayPod: string) => [goReverseProxy(gatewayPod === GATEWAY_POD_6 ? ACTIVATOR_POD_6 : ACTIVATOR_POD)],
};
const paths = Object.entries(PATHS);

/** A client's request to the public URL, through the ingress as deployed and Knative's proxies. */
function viaIngress(ingress: DeployedIngress, start: ReturnType<typeof client>, path: (gatewayPod: string) => Proxy[], gatewayPod = GATEWAY_POD, front: Proxy[] = []): Arrival {
  return through(
    start,
    ...front,
    l4LoadBalancer({ externalTrafficPolicy: ingress.externalTrafficPolicy, node: NODE }),
    envoy(ingress.envoy, gatewayPod),
    ...path(gatewayPod),
    queueProxy,
  );
}

describe('the header chains Knative builds, behind each ingress as `make deploy` sets it up', () => {
  const ingresses = Object.keys(INGRESSES) as IngressName[];

  describe.each(ingresses)('%s', (name) => {
    const ingress = deployedIngress(name);

    it.each(paths)('takes a direct client (%s)', (_path, path) => {
      const arrival = viaIngress(ingress, client(REAL_CLIENT), path);
      expect(arrival.remoteAddress).toBe('127.0.0.1');
      expect(resolveArrival(arrival)).toBe(REAL_CLIENT);
    });

    it.each(paths)('takes the real client when it sends an X-Forwarded-For of its own (%s)', (_path, path) => {
      const arrival = viaIngress(ingress, client(REAL_CLIENT, SPOOF), path);
      expect(arrival.forwardedFor?.startsWith(SPOOF)).toBe(true);
      expect(resolveArrival(arrival)).toBe(REAL_CLIENT);
    });

    it.each(paths)('takes an IPv6 client whole, on an IPv6 pod network (%s)', (_path, path) => {
      const arrival = viaIngress(ingress, client('2001:db8:4:7::42', '2001:db8:9::1'), path, GATEWAY_POD_6);
      expect(resolveArrival(arrival)).toBe('2001:db8:4:7::42');
    });
  });

  it('ships, for Kourier, the remote address in config-kourier and a Local traffic policy', () => {
    expect(deployedIngress('kourier')).toEqual({ envoy: { useRemoteAddress: true, proxyProtocol: false }, externalTrafficPolicy: 'Local' });
    // The chain the functions' own tests send (test/support/proxy-chain.ts throughKnative).
    expect(throughKnative(client(REAL_CLIENT, '6.6.6.6'))).toEqual({ remoteAddress: '127.0.0.1', forwardedFor: `6.6.6.6,${REAL_CLIENT}, ${GATEWAY_POD}, ${ACTIVATOR_POD}` });
    for (const name of ingresses) expect(deployedIngress(name).externalTrafficPolicy, name).toBe('Local');
  });
});

describe('behind a cloud load balancer in front of Kourier', () => {
  const kourier = deployedIngress('kourier');
  const [, straight] = paths[0]!;
  const [, activator] = paths[1]!;

  it('takes the client from the PROXY protocol when the load balancer sends it (its traffic policy then no matter)', () => {
    // The operator's choice (docs/deploying.md): the balancer's PROXY header, and Kourier's enable-proxy-protocol.
    const withProxyProtocol = deployedIngress('kourier', INGRESS_SETTINGS.kourier, { 'enable-proxy-protocol': 'true' });
    for (const path of [straight, activator]) {
      for (const start of [client(REAL_CLIENT), client(REAL_CLIENT, SPOOF)]) {
        const arrival = through(
          start,
          l4LoadBalancer({ externalTrafficPolicy: 'Cluster', node: NODE, proxyProtocol: true }),
          envoy(withProxyProtocol.envoy, GATEWAY_POD),
          ...path(GATEWAY_POD),
          queueProxy,
        );
        expect(resolveArrival(arrival)).toBe(REAL_CLIENT);
      }
    }
  });

  it('takes the client an HTTP load balancer appended, once its addresses are trusted (an AWS ALB in the VPC)', () => {
    const alb = httpLoadBalancer({ connectsFrom: '10.128.4.20' });
    const arrival = viaIngress(kourier, client(REAL_CLIENT, SPOOF), activator, GATEWAY_POD, [alb]);
    expect(resolveArrival(arrival, `${POD_NETWORKS},10.128.4.0/24`)).toBe(REAL_CLIENT);
    // Not trusted yet: every client is the balancer (one counter for all, but no way to pick one's own).
    expect(resolveArrival(arrival)).toBe('10.128.4.20');
  });

  it("takes the client Google's balancer appended, before its front end, once both are trusted", () => {
    const gclb = httpLoadBalancer({ connectsFrom: '35.191.7.9', frontEnd: '34.117.20.5' });
    const arrival = viaIngress(kourier, client(REAL_CLIENT, SPOOF), straight, GATEWAY_POD, [gclb]);
    expect(resolveArrival(arrival, `${POD_NETWORKS},35.191.0.0/16,130.211.0.0/22,34.117.20.5/32`)).toBe(REAL_CLIENT);
    expect(resolveArrival(arrival, `${POD_NETWORKS},35.191.0.0/16,130.211.0.0/22`)).toBe('34.117.20.5');
  });
});

describe('why the settings matter: Kourier as its release installs it', () => {
  const [, activator] = paths[1]!;
  const asInstalled = deployedIngress('kourier', []);

  it('lets a client pick its own address: Envoy passes X-Forwarded-For on untouched', () => {
    expect(asInstalled).toEqual({ envoy: { useRemoteAddress: false, proxyProtocol: false }, externalTrafficPolicy: 'Cluster' });
    const arrival = viaIngress(asInstalled, client(REAL_CLIENT, '198.51.100.66'), activator);
    expect(arrival.forwardedFor).toBe(`198.51.100.66, ${GATEWAY_POD}, ${ACTIVATOR_POD}`);
    expect(resolveArrival(arrival)).toBe('198.51.100.66');
    expect(resolveArrival(arrival, OLD_DEFAULT)).toBe('198.51.100.66');
  });

  it('makes every client who sends no header the gateway pod: one lockout for everybody', () => {
    const arrivals = ['203.0.113.7', '192.0.2.44'].map((address) => viaIngress(asInstalled, client(address), activator));
    expect(arrivals.map((arrival) => resolveArrival(arrival, OLD_DEFAULT))).toEqual([GATEWAY_POD, GATEWAY_POD]);
  });

  it('with the remote address but the Cluster policy, makes every client a node; trusting the nodes would let the header through', () => {
    const halfway = { ...deployedIngress('kourier'), externalTrafficPolicy: 'Cluster' as const };
    const arrival = viaIngress(halfway, client(REAL_CLIENT, '198.51.100.66'), activator);
    expect(resolveArrival(arrival)).toBe(NODE);
    // The old default trusted the node network too (as would naming the node CIDR): the client's own entry wins.
    expect(resolveArrival(arrival, OLD_DEFAULT)).toBe('198.51.100.66');
  });
});

describe('the resolver', () => {
  const resolve = (socket: string | undefined, headers: Record<string, string>, trusted = POD_NETWORKS) =>
    resolverTrusting(trusted).resolve(socket, (name) => headers[name]);

  it('trusts loopback only when TRUSTED_PROXY_CIDRS is unset (the local gateway), and loopback always', () => {
    expect(resolve('127.0.0.1', { 'x-forwarded-for': '6.6.6.6, 10.0.0.1' }, '')).toBe('10.0.0.1');
    expect(resolve('::1', { 'x-forwarded-for': '203.0.113.9' }, '')).toBe('203.0.113.9');
    expect(resolve('127.0.0.1', { 'x-forwarded-for': `203.0.113.9, ${GATEWAY_POD}` }, '10.244.0.0/16')).toBe('203.0.113.9');
  });

  it('takes the socket when nothing forwards, and ignores the header when the socket is not a trusted proxy', () => {
    expect(resolve('198.51.100.23', {})).toBe('198.51.100.23');
    expect(resolve('198.51.100.23', { 'x-forwarded-for': '6.6.6.6' })).toBe('198.51.100.23');
  });

  it('never picks an address the client wrote itself, whatever it wrote', () => {
    for (const written of ['6.6.6.6', '10.0.0.1, 6.6.6.6', 'not-an-address, <script>', `${'9.9.9.9, '.repeat(40)}6.6.6.6`]) {
      expect(resolve('127.0.0.1', { 'x-forwarded-for': `${written}, 198.51.100.23, ${GATEWAY_POD}` }), written).toBe('198.51.100.23');
    }
  });

  it('stops at a hop that is not an address, answering the nearest proxy rather than anything further left', () => {
    expect(resolve('127.0.0.1', { 'x-forwarded-for': `6.6.6.6, unknown, ${GATEWAY_POD}` })).toBe(GATEWAY_POD);
    expect(resolve(undefined, {})).toBe('unknown');
  });

  it('reads addresses with ports, brackets and IPv4 seen through IPv6', () => {
    expect(resolve('127.0.0.1', { 'x-forwarded-for': `[2001:DB8::42]:4711, ${GATEWAY_POD}` })).toBe('2001:db8::42');
    expect(resolve('127.0.0.1', { 'x-forwarded-for': `198.51.100.23:5000, ${GATEWAY_POD}` })).toBe('198.51.100.23');
    expect(resolve('::ffff:127.0.0.1', { 'x-forwarded-for': `::ffff:198.51.100.23, ${GATEWAY_POD}` })).toBe('198.51.100.23');
    expect(resolve('127.0.0.1', { 'x-forwarded-for': `::ffff:c633:6417, ${GATEWAY_POD}` })).toBe('198.51.100.23');
  });

  it('does not read RFC 7239 Forwarded: on Knative it carries whatever the client sent', () => {
    // The queue-proxy fills Forwarded from X-Forwarded-For only when the request has none (pkg/queue/forwarded_shim.go).
    expect(resolve('127.0.0.1', { forwarded: 'for=6.6.6.6', 'x-forwarded-for': `203.0.113.9, ${GATEWAY_POD}` })).toBe('203.0.113.9');
    expect(resolve('127.0.0.1', { forwarded: 'for=6.6.6.6' })).toBe('127.0.0.1');
  });
});

describe('clientKey: what the per-client counters count by', () => {
  it.each([
    ['an IPv4 address, as it is', '203.0.113.7', '203.0.113.7'],
    ['an IPv6 address, by its /64', '2001:db8:4:7::42', '2001:db8:4:7::/64'],
    ['another address of the same /64', '2001:db8:4:7:ffff:ffff:ffff:ffff', '2001:db8:4:7::/64'],
    ['the same /64 spelled out', '2001:0DB8:0004:0007:0000:0000:0000:0001', '2001:db8:4:7::/64'],
    ['a /64 with zero groups', '2001:db8::1', '2001:db8:0:0::/64'],
    ['an address with a zone', 'fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['IPv4 written as IPv6', '::ffff:198.51.100.23', '198.51.100.23'],
    ['IPv4 written as IPv6 in hex', '::ffff:c633:6417', '198.51.100.23'],
    ['a trailing dotted part that is not mapped IPv4', '64:ff9b::198.51.100.23', '64:ff9b:0:0::/64'],
    ['what is no address', 'unknown', 'unknown'],
    ['a key already (so keying twice changes nothing)', '2001:db8:4:7::/64', '2001:db8:4:7::/64'],
  ])('keys %s', (_case, address, key) => {
    expect(clientKey(address)).toBe(key);
  });

  it('gives another /64 another key', () => {
    expect(clientKey('2001:db8:4:8::42')).not.toBe(clientKey('2001:db8:4:7::42'));
  });
});

describe('TRUSTED_PROXY_CIDRS', () => {
  const IN_A_CLUSTER = { KUBERNETES_SERVICE_HOST: '10.96.0.1' };

  it('is empty by default: loopback alone is trusted, as on a laptop', () => {
    expect(parseConfig({}, ['clients']).TRUSTED_PROXY_CIDRS).toEqual([]);
  });

  it('takes a comma-separated list, refusing anything that is not a CIDR, and a network of every address, by name', () => {
    expect(parseConfig({ TRUSTED_PROXY_CIDRS: ' 10.244.0.0/16 , fd00:10:244::/56 ' }, ['clients']).TRUSTED_PROXY_CIDRS).toEqual([
      { address: '10.244.0.0', prefix: 16, family: 'ipv4' },
      { address: 'fd00:10:244::', prefix: 56, family: 'ipv6' },
    ]);
    for (const bad of ['10.0.0.0', '10.0.0.0/33', 'example.com/8', '::/129']) {
      expect(() => parseConfig({ TRUSTED_PROXY_CIDRS: bad }, ['clients']), bad).toThrow(/TRUSTED_PROXY_CIDRS must be comma-separated CIDRs; not one/);
    }
    for (const everything of ['0.0.0.0/0', '10.244.0.0/16,::/0']) {
      expect(() => parseConfig({ TRUSTED_PROXY_CIDRS: everything }, ['clients']), everything).toThrow(/TRUSTED_PROXY_CIDRS must name the proxies' networks, not every address/);
    }
  });

  it('is required in a cluster: a function that counts per client refuses to start without it', () => {
    const refused = (() => {
      try {
        parseConfig({ ...IN_A_CLUSTER, TRUSTED_PROXY_CIDRS: ' ' }, ['clients']);
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    expect(refused).toBeInstanceOf(ConfigError);
    expect((refused as ConfigError).problems).toEqual([expect.stringMatching(/^TRUSTED_PROXY_CIDRS is required in a cluster: .*accounts-client-addresses/)]);
    expect(parseConfig({ ...IN_A_CLUSTER, TRUSTED_PROXY_CIDRS: POD_NETWORKS }, ['clients']).TRUSTED_PROXY_CIDRS).toHaveLength(2);
    // A function that does not count per client does not care.
    expect(() => parseConfig(IN_A_CLUSTER, ['retention'])).not.toThrow();
  });

  it('replaces CLIENT_ADDRESS_HEADER, which is read no more', () => {
    expect(configVariableNames()).toContain('TRUSTED_PROXY_CIDRS');
    expect(configVariableNames()).not.toContain('CLIENT_ADDRESS_HEADER');
  });
});
