import { connect as connectTcp, createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 that a test cuts, as a server restart or a network fault cuts a
 * client's connections: the broker's RabbitMQ reconnection tests and the database outage tests
 * put one between a client and its server.
 */

/** A TCP proxy in front of a server, to cut a client's connections as a restart would. */
export interface TcpProxy {
  readonly port: number;
  /** Connections accepted (and forwarded) so far; refused ones are not counted. */
  accepted(): number;
  /** Resets every open connection, both ways, and refuses new ones until `restore`. */
  cut(): void;
  /** Stops forwarding on the open connections without closing them (a peer gone silent); new ones work. */
  freeze(): void;
  /** Accepts and forwards connections again. */
  restore(): void;
  close(): Promise<void>;
}

/** Starts a proxy on 127.0.0.1 (a free port of its own) forwarding to `target`. */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const open = new Set<{ client: Socket; upstream: Socket }>();
  let refusing = false;
  let accepted = 0;
  const server = createTcpServer((client) => {
    if (refusing) {
      client.resetAndDestroy();
      return;
    }
    accepted += 1;
    const upstream = connectTcp(target.port, target.host);
    const pair = { client, upstream };
    open.add(pair);
    const drop = (): void => {
      open.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on('error', drop);
      socket.on('close', drop);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  const cutAll = (): void => {
    for (const pair of open) {
      open.delete(pair);
      pair.client.resetAndDestroy();
      pair.upstream.destroy();
    }
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    accepted: () => accepted,
    cut() {
      refusing = true;
      cutAll();
    },
    freeze() {
      for (const { client, upstream } of open) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    restore() {
      refusing = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        refusing = true;
        cutAll();
        server.close(() => resolve());
      }),
  };
}
