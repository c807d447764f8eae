import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { RequestListener } from 'node:http';
import { createServer } from 'node:http';
import { specOf } from '../functions/inventory.js';
import { withEdge } from '../functions/shared/http/edge.js';
import { createLogger } from '../functions/shared/logging.js';

/** A hello function served by functions-framework alone (`bare`) or behind our edge (`edge`). */
const mode = process.argv[2] ?? 'edge';
http('users-get', (_req, res) => {
  res.json({ hello: 'world' });
});
const framework = getTestServer('users-get');
const server =
  mode === 'bare'
    ? framework
    : createServer(
        withEdge(
          {
            spec: specOf('users-get'),
            logger: createLogger({ service: 'bench', revision: 'bench', write: () => undefined }),
            readiness: async () => ({ ready: true, checks: {} }),
            isDraining: () => false,
          },
          framework.listeners('request')[0] as RequestListener,
        ),
      );
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${typeof address === 'object' && address ? address.port : 0}\n`);
});
