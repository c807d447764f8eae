import { createServer } from 'node:net';

// Below Linux's ephemeral range (32768 and up), where every `listen(0)` lands: a port handed out
// here cannot be taken by a server that asked the kernel for any free port before ours binds it.
const RANGE_START = 20_000;
const RANGE_END = 32_000;
// Each process walks the range from its own random place, so two processes (a runner and a test
// worker, two runners) hardly ever reach for the same port at the same moment.
let next = RANGE_START + Math.floor(Math.random() * (RANGE_END - RANGE_START));

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < 2_000; tries += 1) {
    const port = next;
    next = next + 1 >= RANGE_END ? RANGE_START : next + 1;
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port between ${RANGE_START} and ${RANGE_END} on 127.0.0.1`);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
