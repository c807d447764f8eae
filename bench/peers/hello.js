// A functions-framework hello world: what a cold start costs with nothing of ours in it.
import { http } from '@google-cloud/functions-framework';

http('hello', (_req, res) => {
  res.send('hello');
});
