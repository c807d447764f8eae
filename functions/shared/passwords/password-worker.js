// Runs bcrypt off the main event loop. Plain JavaScript so Node can start it straight from the
// source tree (tests) as well as from the bundle (image).
import { parentPort } from 'node:worker_threads';
import bcrypt from 'bcryptjs';

parentPort?.on('message', async (/** @type {{id: number, op: 'hash'|'compare', password: string, cost?: number, hash?: string}} */ job) => {
  try {
    const result =
      job.op === 'hash'
        ? await bcrypt.hash(job.password, job.cost ?? 12)
        : await bcrypt.compare(job.password, job.hash ?? '');
    parentPort?.postMessage({ id: job.id, ok: true, result });
  } catch (error) {
    parentPort?.postMessage({ id: job.id, ok: false, error: error instanceof Error ? error.message : String(error) });
  }
});
