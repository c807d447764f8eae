import { BlockList, isIP } from 'node:net';

/**
 * The address a request came from, behind the proxies in front of the function. On Knative a
 * request passes the ingress's Envoy (Kourier, Istio, Contour), sometimes the activator, and always
 * the queue-proxy. The activator and the queue-proxy (Go's httputil.ReverseProxy) append the address
 * of their peer to X-Forwarded-For; Envoy appends its peer only when it uses the remote address
 * (Kourier's `use-remote-address`, on by default in Istio's gateways and Contour), which is why the
 * deploy sets it (docs/deploying.md, "Client addresses"). The function's own peer is the queue-proxy on
 * 127.0.0.1.
 *
 * Walking the list from the right (the socket's peer is the last hop), every address inside the
 * trusted networks is a proxy of ours and is skipped; the first one outside them is the client.
 * Whatever lies further left was written by the client itself and never picks the address: this is
 * nginx's `real_ip_recursive` and express's `trust proxy` with subnets. Loopback is always trusted
 * (the queue-proxy in the cluster, the gateway of the local runner); TRUSTED_PROXY_CIDRS names the
 * networks of the proxies in front (in a cluster: its pod networks, and a load balancer's ranges).
 *
 * RFC 7239 `Forwarded` is not read: no proxy on Knative writes it from what it saw (the queue-proxy
 * builds it from X-Forwarded-For only when the request has none), so it holds what the client sent.
 */

/** A network in CIDR notation, checked. */
export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

/** Always trusted: the queue-proxy reaches the function over loopback, as the local runner's gateway does. */
export const LOOPBACK_CIDRS = '127.0.0.0/8,::1/128';

const LOOPBACK: readonly Cidr[] = LOOPBACK_CIDRS.split(',').map((text) => parseCidr(text) as Cidr);

/** More hops than any real chain has: the walk stops there (a longer list is the client's own). */
const MAX_HOPS = 32;
const MAX_ADDRESS_LENGTH = 100;

/** Parses `a.b.c.d/n` or `x::y/n`; undefined when it is not one. */
export function parseCidr(text: string): Cidr | undefined {
  const [address = '', prefixText, ...rest] = text.trim().split('/');
  const version = isIP(address);
  if (version === 0 || prefixText === undefined || rest.length > 0 || !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > (version === 4 ? 32 : 128)) return undefined;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/**
 * A comma-separated list of trusted proxy networks, checked: every entry a CIDR, none that trusts
 * every address (with `0.0.0.0/0` the leftmost entry, the client's own, would always be taken).
 */
export function parseTrustedProxyCidrs(text: string): { readonly cidrs: Cidr[]; readonly problems: string[] } {
  const parts = text.split(',').map((part) => part.trim()).filter((part) => part !== '');
  const cidrs: Cidr[] = [];
  const notCidrs: string[] = [];
  const everything: string[] = [];
  for (const part of parts) {
    const cidr = parseCidr(part);
    if (!cidr) notCidrs.push(part);
    else if (cidr.prefix === 0) everything.push(part);
    else cidrs.push(cidr);
  }
  const problems = [
    ...(notCidrs.length > 0 ? [`must be comma-separated CIDRs; not one: ${notCidrs.join(', ')}`] : []),
    ...(everything.length > 0 ? [`must name the proxies' networks, not every address: ${everything.join(', ')}`] : []),
  ];
  return { cidrs, problems };
}

export interface ClientAddressResolver {
  /** The client's address: `remoteAddress` is the socket's peer, `header` reads a request header. */
  resolve(remoteAddress: string | undefined, header: (name: string) => string | undefined): string;
}

/** Resolves through X-Forwarded-For, trusting loopback and the given networks. */
export function createClientAddressResolver(options: { readonly trusted: readonly Cidr[] }): ClientAddressResolver {
  const trusted = new BlockList();
  for (const cidr of [...LOOPBACK, ...options.trusted]) trusted.addSubnet(cidr.address, cidr.prefix, cidr.family);
  const isTrusted = (address: string): boolean => trusted.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
  return {
    resolve(remoteAddress, header) {
      const value = header('x-forwarded-for');
      const written = value === undefined ? [] : value.split(',');
      const hops = [...written.slice(-MAX_HOPS), remoteAddress ?? ''];
      let nearest = 'unknown';
      for (let index = hops.length - 1; index >= 0; index -= 1) {
        const address = addressOf(hops[index] ?? '');
        // Not an address (`unknown`, an obfuscated name, garbage): nothing further left can be believed.
        if (!address) return nearest;
        nearest = address;
        if (!isTrusted(address)) return address;
      }
      // Every hop is one of ours: the request came from inside; the furthest hop is the best answer.
      return nearest;
    },
  };
}

/** An IP address from a hop, without port or brackets, IPv4 seen through IPv6 written as IPv4; undefined when it is none. */
function addressOf(hop: string): string | undefined {
  let text = hop.trim();
  if (text.length === 0 || text.length > MAX_ADDRESS_LENGTH) return undefined;
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(text);
  if (bracketed) text = bracketed[1] as string;
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(text)) text = text.slice(0, text.lastIndexOf(':'));
  text = text.toLowerCase();
  const version = isIP(text);
  if (version === 0) return undefined;
  return version === 6 ? (mappedIpv4(ipv6Groups(text)) ?? text) : text;
}

/**
 * What a per-client counter (the sign-in lockout, the registration and email request limits) is
 * keyed by: an IPv4 address as it is, an IPv6 address by its /64 (`2001:db8:7:1::/64`), the network
 * one subscriber or host usually gets whole, so rotating the low 64 bits gives no fresh counter; an
 * IPv4 address written as IPv6 (`::ffff:198.51.100.7`) as the IPv4 address. Anything else (`unknown`,
 * or a key already) is returned as it is. The address recorded with a sign-in stays the full one.
 */
export function clientKey(address: string): string {
  const text = address.trim().toLowerCase();
  if (isIP(text) !== 6) return address;
  const groups = ipv6Groups(text);
  return mappedIpv4(groups) ?? `${groups.slice(0, 4).map((group) => group.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address (which isIP accepted), a zone left out. */
function ipv6Groups(address: string): number[] {
  let text = address.replace(/%.*$/, '');
  // A trailing dotted IPv4 part is the last two groups.
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/** The IPv4 address of `::ffff:a.b.c.d` in any spelling; undefined for any other IPv6 address. */
function mappedIpv4(groups: readonly number[]): string | undefined {
  if (groups.slice(0, 5).some((group) => group !== 0) || groups[5] !== 0xffff) return undefined;
  const [high = 0, low = 0] = groups.slice(6);
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}
