import { describe, expect, it } from 'vitest';
import { parseWrk, runWrk } from './wrk.js';

describe('parseWrk', () => {
  it('reads throughput, latency percentiles in any unit, and the answers that were not 2xx/3xx', () => {
    const report = [
      'Running 8s test @ http://127.0.0.1:41234/users/1',
      '  1 threads and 50 connections',
      '  Latency Distribution',
      '     50%   53.00us',
      '     75%   79.00us',
      '     90%  147.00us',
      '     99%    3.03ms',
      '  63422 requests in 8.00s, 7.50MB read',
      '  Socket errors: connect 0, read 2, write 0, timeout 1',
      '  Non-2xx or 3xx responses: 17',
      'Requests/sec:  7927.38',
    ].join('\n');
    expect(parseWrk(report)).toEqual({ requests: 63422, perSecond: 7927.38, p50Ms: 0.053, p99Ms: 3.03, non2xx: 17, errors: 3 });
    expect(parseWrk('     99%    1.20s\nRequests/sec: 1.5').p99Ms).toBe(1200);
  });

  it('sends load to 127.0.0.1 only, bounded in connections and time', async () => {
    await expect(runWrk({ url: 'http://example.com/', connections: 1, seconds: 1 })).rejects.toThrow('127.0.0.1 only');
    await expect(runWrk({ url: 'http://127.0.0.1:9/', connections: 1_000, seconds: 1 })).rejects.toThrow('bounded');
  });
});
