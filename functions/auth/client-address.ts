/**
 * The address a request came from. Each trusted proxy in front of the function (ingress, local
 * gateway) appends the address it saw to X-Forwarded-For, so with `trustedHops` proxies the client
 * is that many entries from the right; anything further left was written by the client itself
 * and cannot be trusted (it would let one client dodge the per-address lockout).
 */
export function clientAddressOf(socketAddress: string | undefined, forwardedFor: string | undefined, trustedHops: number): string {
  const fallback = normalize(socketAddress ?? 'unknown');
  if (trustedHops === 0 || !forwardedFor) return fallback;
  const hops = forwardedFor
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
  const entry = hops[hops.length - trustedHops] ?? hops[0];
  return entry ? normalize(entry) : fallback;
}

/** `::ffff:127.0.0.1` (IPv4 seen through an IPv6 socket) is written as `127.0.0.1`. */
function normalize(address: string): string {
  return address.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1').slice(0, 100);
}
