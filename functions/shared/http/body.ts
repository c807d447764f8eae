import type { IncomingMessage } from 'node:http';

/** Reads the body without buffering more than `limit` bytes; undefined when there is none. */
export function readBoundedBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined | 'too-large'> {
  const declared = req.headers['content-length'];
  const hasBody = declared !== undefined ? declared !== '0' : req.headers['transfer-encoding'] !== undefined;
  if (!hasBody) return Promise.resolve(undefined);
  if (declared !== undefined && Number(declared) > limit) {
    req.resume();
    return Promise.resolve('too-large');
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.resume();
        resolve('too-large');
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', reject);
  });
}
