import net from 'node:net';

/** A request as bytes on the wire, so a test can send what no HTTP client would. */
export interface RawRequest {
  readonly method: string;
  /** The request target exactly as sent: path and query, any bytes (latin1). */
  readonly target: string;
  /** Header lines as sent (name and value, any latin1 characters). */
  readonly headers: readonly (readonly [string, string])[];
  readonly body?: Buffer;
  /** Send the body with `Transfer-Encoding: chunked` instead of `Content-Length`. */
  readonly chunked?: boolean;
}

export interface RawResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

/** The bytes of a request; the connection closes after the answer. */
export function encodeRequest(request: RawRequest): Buffer {
  const lines = [`${request.method} ${request.target} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close'];
  for (const [name, value] of request.headers) lines.push(`${name}: ${value}`);
  const body = request.body;
  if (body !== undefined) lines.push(request.chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${body.length}`);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  if (body === undefined) return head;
  if (!request.chunked) return Buffer.concat([head, body]);
  const chunk = body.length > 0 ? [Buffer.from(`${body.length.toString(16)}\r\n`, 'latin1'), body, Buffer.from('\r\n')] : [];
  return Buffer.concat([head, ...chunk, Buffer.from('0\r\n\r\n')]);
}

/**
 * Sends the bytes on a new connection to 127.0.0.1 and reads the first answer. Rejects when no
 * answer came before the connection closed or within `timeoutMs`.
 */
export function sendRaw(port: number, bytes: Buffer, options: { timeoutMs?: number; head?: boolean } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (error?: Error): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      const received = Buffer.concat(chunks);
      const parsed = received.length > 0 ? parseResponse(received, options.head ?? false, true) : undefined;
      if (parsed) resolve(parsed);
      else reject(error ?? new Error(`no answer (${received.length} bytes: ${JSON.stringify(received.toString('latin1').slice(0, 200))})`));
    };
    socket.setTimeout(options.timeoutMs ?? 10_000, () => finish(new Error('no answer in time')));
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      // Done as soon as one whole answer is in: the server may go on reading leftover bytes.
      if (parseResponse(Buffer.concat(chunks), options.head ?? false)) finish();
    });
    socket.on('error', (error) => finish(error));
    socket.on('close', () => finish());
    // A reset while we are still writing (the server answered early and closed) is not our error.
    socket.write(bytes, () => undefined);
  });
}

/**
 * The first complete response in the bytes, or undefined while it is incomplete. Once the
 * connection has `closed`, a body without a length runs to the end.
 */
export function parseResponse(bytes: Buffer, head: boolean, closed = false): RawResponse | undefined {
  // Interim answers (100 Continue) come before the answer.
  while (/^HTTP\/1\.[01] 1\d\d /.test(bytes.subarray(0, 13).toString('latin1'))) {
    const interimEnd = bytes.indexOf('\r\n\r\n');
    if (interimEnd === -1) return undefined;
    bytes = bytes.subarray(interimEnd + 4);
  }
  const end = bytes.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const [statusLine = '', ...lines] = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!status) throw new Error(`not an HTTP answer: ${JSON.stringify(statusLine.slice(0, 100))}`);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const code = Number(status[1]);
  const rest = bytes.subarray(end + 4);
  if (head || code === 204 || code === 304 || (code >= 100 && code < 200)) return { status: code, headers, body: Buffer.alloc(0) };
  if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
    const body = dechunk(rest);
    return body && { status: code, headers, body };
  }
  if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    return rest.length >= length ? { status: code, headers, body: rest.subarray(0, length) } : undefined;
  }
  return closed ? { status: code, headers, body: rest } : undefined;
}

function dechunk(bytes: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = bytes.indexOf('\r\n', at);
    if (lineEnd === -1) return undefined;
    const size = parseInt(bytes.subarray(at, lineEnd).toString('latin1'), 16);
    if (Number.isNaN(size)) return undefined;
    if (size === 0) return Buffer.concat(parts);
    const start = lineEnd + 2;
    if (bytes.length < start + size + 2) return undefined;
    parts.push(bytes.subarray(start, start + size));
    at = start + size + 2;
  }
}
