import { describe, expect, it } from 'vitest';
import { createClientAddressResolver, DEFAULT_TRUSTED_PROXY_CIDRS, parseCidr, type Cidr, type ForwardingHeader } from './client-address.js';
import { ConfigError, parseConfig } from './config.js';

const cidrs = (list: string): Cidr[] => list.split(',').map((text) => parseCidr(text) as Cidr);
const resolverOf = (trusted = DEFAULT_TRUSTED_PROXY_CIDRS, header: ForwardingHeader = 'x-forwarded-for') =>
  createClientAddressResolver({ trusted: cidrs(trusted), header });
const resolve = (socket: string | undefined, headers: Record<string, string>, trusted?: string, header?: ForwardingHeader) =>
  resolverOf(trusted, header).resolve(socket, (name) => headers[name]);

/**
 * What a function really receives on Knative. Each Go reverse proxy (activator, queue-proxy) and
 * Envoy (Kourier, Istio, Contour) appends the address of the peer it got the request from; the
 * function's socket peer is the queue-proxy on 127.0.0.1.
 */
describe('the client address behind the proxies Knative puts in front', () => {
  it.each([
    ['direct to queue-proxy: client, ingress pod', '198.51.100.23, 10.8.1.14', '198.51.100.23'],
    ['scaled to zero, through the activator: client, ingress pod, activator pod', '198.51.100.23, 10.8.1.14, 10.8.2.7', '198.51.100.23'],
    ['an IPv6 client through the activator', '2001:db8::42, 10.8.1.14, 10.8.2.7', '2001:db8::42'],
    ['an IPv4 client seen through an IPv6 socket', '::ffff:198.51.100.23, 10.8.1.14', '198.51.100.23'],
  ])('%s', (_case, forwardedFor, client) => {
    expect(resolve('127.0.0.1', { 'x-forwarded-for': forwardedFor })).toBe(client);
  });

  it.each([
    ['one spoofed entry', '6.6.6.6, 198.51.100.23, 10.8.1.14, 10.8.2.7'],
    ['several, one of them "private"', '10.0.0.1, 6.6.6.6, 198.51.100.23, 10.8.1.14'],
    ['garbage', 'not-an-address, <script>, 198.51.100.23, 10.8.1.14'],
  ])('never picks an address the client wrote itself (%s)', (_case, forwardedFor) => {
    expect(resolve('127.0.0.1', { 'x-forwarded-for': forwardedFor })).toBe('198.51.100.23');
  });

  it('behind a cloud load balancer, takes the client once the balancer\'s ranges are trusted too', () => {
    // A Google Cloud L7 balancer appends the client and its own front-end address.
    const chain = { 'x-forwarded-for': '198.51.100.23, 35.191.4.20, 10.8.1.14, 10.8.2.7' };
    expect(resolve('127.0.0.1', chain)).toBe('35.191.4.20');
    expect(resolve('127.0.0.1', chain, `${DEFAULT_TRUSTED_PROXY_CIDRS},35.191.0.0/16,130.211.0.0/22`)).toBe('198.51.100.23');
  });

  it("reads knative/serving#3112's chain, every hop in the cluster, as the furthest hop", () => {
    expect(resolve('127.0.0.1', { 'x-forwarded-for': '10.128.0.7, 127.0.0.1, 127.0.0.1' })).toBe('10.128.0.7');
  });

  it('takes the socket when nothing forwards, and ignores the header when the socket is not a trusted proxy', () => {
    expect(resolve('198.51.100.23', {})).toBe('198.51.100.23');
    expect(resolve('198.51.100.23', { 'x-forwarded-for': '6.6.6.6' })).toBe('198.51.100.23');
    expect(resolve('127.0.0.1', { 'x-forwarded-for': '6.6.6.6' }, '192.0.2.0/24')).toBe('127.0.0.1');
  });

  it('stops at a hop that is not an address, answering the nearest proxy rather than anything further left', () => {
    expect(resolve('127.0.0.1', { 'x-forwarded-for': '6.6.6.6, unknown, 10.8.1.14' })).toBe('10.8.1.14');
    expect(resolve(undefined, {})).toBe('unknown');
  });

  it('reads RFC 7239 Forwarded when that is the header the proxies write, and then ignores X-Forwarded-For', () => {
    const headers = {
      forwarded: 'for=6.6.6.6, for="[2001:db8::42]:4711";proto=https, for=10.8.1.14;by=10.8.2.7',
      'x-forwarded-for': '7.7.7.7',
    };
    expect(resolve('127.0.0.1', headers, undefined, 'forwarded')).toBe('2001:db8::42');
    expect(resolve('127.0.0.1', { forwarded: 'for=198.51.100.23:47011, for=_hidden' }, undefined, 'forwarded')).toBe('127.0.0.1');
  });
});

describe('TRUSTED_PROXY_CIDRS and CLIENT_ADDRESS_HEADER', () => {
  it('default to loopback and the private ranges, and X-Forwarded-For', () => {
    const config = parseConfig({}, ['clients']);
    expect(config.CLIENT_ADDRESS_HEADER).toBe('x-forwarded-for');
    expect(config.TRUSTED_PROXY_CIDRS.map((cidr) => `${cidr.address}/${cidr.prefix}`)).toEqual(DEFAULT_TRUSTED_PROXY_CIDRS.split(','));
  });

  it('take a comma-separated list, refusing anything that is not a CIDR by name', () => {
    expect(parseConfig({ TRUSTED_PROXY_CIDRS: ' 10.0.0.0/8 , fd00::/8 ' }, ['clients']).TRUSTED_PROXY_CIDRS).toEqual([
      { address: '10.0.0.0', prefix: 8, family: 'ipv4' },
      { address: 'fd00::', prefix: 8, family: 'ipv6' },
    ]);
    for (const bad of ['10.0.0.0', '10.0.0.0/33', 'example.com/8', '::/129']) {
      expect(() => parseConfig({ TRUSTED_PROXY_CIDRS: bad }, ['clients']), bad).toThrow(ConfigError);
      expect(() => parseConfig({ TRUSTED_PROXY_CIDRS: bad }, ['clients']), bad).toThrow(/TRUSTED_PROXY_CIDRS.*not one/);
    }
    expect(() => parseConfig({ CLIENT_ADDRESS_HEADER: 'x-real-ip' }, ['clients'])).toThrow(/CLIENT_ADDRESS_HEADER/);
  });
});
