// The function a user writes first: functions-framework and pg, no authentication.
import { http } from '@google-cloud/functions-framework';
import { answer } from './shared.js';

http('peer', async (req, res) => {
  const answered = await answer(req.path);
  if (!answered) return res.status(404).end();
  const [status, body, headers] = answered;
  res.set(headers).status(status).json(body);
});
