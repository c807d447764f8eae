// The same work as users-get: functions-framework and pg, and an ES256 token verified on every request.
import { http } from '@google-cloud/functions-framework';
import { importSPKI, jwtVerify } from 'jose';
import { answer } from './shared.js';

const key = await importSPKI(process.env.JWT_PUBLIC_KEY, 'ES256');

http('peer', async (req, res) => {
  try {
    const token = /^Bearer (.+)$/.exec(req.get('authorization') ?? '')?.[1] ?? '';
    await jwtVerify(token, key, { algorithms: ['ES256'], issuer: 'knative-accounts', audience: 'knative-accounts' });
  } catch {
    return res.status(401).json({ title: 'Unauthorized' });
  }
  const answered = await answer(req.path);
  if (!answered) return res.status(404).end();
  const [status, body, headers] = answered;
  res.set(headers).status(status).json(body);
});
