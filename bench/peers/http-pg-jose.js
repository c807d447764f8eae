// The ceiling: node:http, pg and an ES256 token verified on every request, nothing else.
import { createServer } from 'node:http';
import { importSPKI, jwtVerify } from 'jose';
import { answer } from './shared.js';

const key = await importSPKI(process.env.JWT_PUBLIC_KEY, 'ES256');

createServer(async (req, res) => {
  try {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    await jwtVerify(token, key, { algorithms: ['ES256'], issuer: 'knative-accounts', audience: 'knative-accounts' });
  } catch {
    res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"title":"Unauthorized"}');
    return;
  }
  const answered = await answer(req.url.split('?', 1)[0]);
  if (!answered) return res.writeHead(404).end();
  const [status, body, headers] = answered;
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) }).end(text);
}).listen(Number(process.env.PORT ?? 8080), '127.0.0.1');
