import { BlockList, isIP } from 'node:net';

/**
 * The address a request came from, behind any number of proxies. On Knative a request passes the
 * ingress (Kourier, Istio, Contour), sometimes the activator, and always the queue-proxy, and each
 * appends the address of its peer to X-Forwarded-For; a cloud load balancer may add one more.
 * Walking the list from the right (the socket's peer is the last hop), every address inside the
 * trusted networks is a proxy of ours and is skipped; the first one outside them is the client.
 * Whatever lies further left was written by the client itself and never picks the address: this
 * is nginx's `real_ip_recursive` and express's `trust proxy` with subnets.
 */

/** A network in CIDR notation, checked. */
export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

/** Loopback, and the private, shared (CGNAT), link-local and unique-local ranges clusters give pods and nodes. */
export const DEFAULT_TRUSTED_PROXY_CIDRS =
  '127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10,169.254.0.0/16,fc00::/7,fe80::/10';

/** Which header the trusted proxies write. */
export type ForwardingHeader = 'x-forwarded-for' | 'forwarded';

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

export interface ClientAddressResolver {
  /** The client's address: `remoteAddress` is the socket's peer, `header` reads a request header. */
  resolve(remoteAddress: string | undefined, header: (name: string) => string | undefined): string;
}

export function createClientAddressResolver(options: { readonly trusted: readonly Cidr[]; readonly header: ForwardingHeader }): ClientAddressResolver {
  const trusted = new BlockList();
  for (const cidr of options.trusted) trusted.addSubnet(cidr.address, cidr.prefix, cidr.family);
  const isTrusted = (address: string): boolean => trusted.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
  return {
    resolve(remoteAddress, header) {
      const value = header(options.header);
      const written = value === undefined ? [] : options.header === 'forwarded' ? forwardedFor(value) : value.split(',');
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

/** The `for=` values of a Forwarded header (RFC 7239), in order. */
function forwardedFor(value: string): string[] {
  return value.split(',').map((element) => {
    const pair = element
      .split(';')
      .map((part) => part.trim())
      .find((part) => part.toLowerCase().startsWith('for='));
    return pair ? pair.slice(4).replace(/^"(.*)"$/, '$1') : '';
  });
}

/** An IP address from a hop, without port or brackets, IPv4 seen through IPv6 written as IPv4; undefined when it is none. */
function addressOf(hop: string): string | undefined {
  let text = hop.trim();
  if (text.length === 0 || text.length > MAX_ADDRESS_LENGTH) return undefined;
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(text);
  if (bracketed) text = bracketed[1] as string;
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(text)) text = text.slice(0, text.lastIndexOf(':'));
  text = text.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
  return isIP(text) === 0 ? undefined : text.toLowerCase();
}
