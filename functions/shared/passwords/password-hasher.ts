import { Worker } from 'node:worker_threads';

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** Compares against `hash`; with `null` (no such account) it spends the same time and answers false. */
  verify(password: string, hash: string | null): Promise<boolean>;
  close(): Promise<void>;
}

export interface PasswordHasherOptions {
  readonly cost: number;
  readonly threads: number;
  /** The worker script; defaults to the one beside this module (or beside the bundle). */
  readonly workerUrl?: URL;
}

type Job =
  | { id: number; op: 'hash'; password: string; cost: number }
  | { id: number; op: 'compare'; password: string; hash: string };

interface Pending {
  readonly job: Job;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

interface Slot {
  worker: Worker;
  current: Pending | undefined;
}

/**
 * bcrypt in a fixed pool of worker threads, so hashing uses every core the instance is given and
 * the event loop stays free for health checks and other requests. Jobs wait in one queue and go
 * to the first idle worker; a worker that dies fails its job and is replaced.
 */
export function createPasswordHasher(options: PasswordHasherOptions): PasswordHasher {
  const workerUrl = options.workerUrl ?? new URL('./password-worker.js', import.meta.url);
  const queue: Pending[] = [];
  const slots: Slot[] = [];
  let nextId = 1;
  let closed = false;
  // Workers that died in a row without finishing a job; past the limit the pool stops respawning
  // (a worker that cannot even start would otherwise be restarted forever) until the next job.
  let crashesInARow = 0;
  const MAX_CRASHES_IN_A_ROW = 3;
  // A well-formed hash at the configured cost that matches no password: comparing against it costs
  // what a real compare costs, so an unknown email is not told apart by timing.
  const absentHash = `$2b$${String(options.cost).padStart(2, '0')}$${'N'.repeat(53)}`;

  const spawn = (): Slot => {
    const slot: Slot = { worker: new Worker(workerUrl), current: undefined };
    slot.worker.unref();
    slot.worker.on('message', (message: { id: number; ok: boolean; result?: unknown; error?: string }) => {
      const pending = slot.current;
      slot.current = undefined;
      crashesInARow = 0;
      if (pending && pending.job.id === message.id) {
        if (message.ok) pending.resolve(message.result);
        else pending.reject(new Error(`password worker: ${message.error ?? 'failed'}`));
      }
      dispatch();
    });
    const replace = (reason: Error): void => {
      const index = slots.indexOf(slot);
      if (index === -1) return;
      slot.current?.reject(reason);
      slot.current = undefined;
      crashesInARow += 1;
      if (closed || crashesInARow >= MAX_CRASHES_IN_A_ROW) {
        slots.splice(index, 1);
        if (slots.length === 0) for (const waiting of queue.splice(0)) waiting.reject(reason);
        return;
      }
      slots[index] = spawn();
      dispatch();
    };
    slot.worker.on('error', replace);
    slot.worker.on('exit', (code) => replace(new Error(`password worker exited with code ${code}`)));
    return slot;
  };

  const dispatch = (): void => {
    for (const slot of slots) {
      if (queue.length === 0) break;
      if (slot.current) continue;
      const pending = queue.shift() as Pending;
      slot.current = pending;
      slot.worker.ref();
      slot.worker.postMessage(pending.job);
    }
    for (const slot of slots) if (!slot.current) slot.worker.unref();
  };

  const run = <T>(job: Job): Promise<T> => {
    if (closed) return Promise.reject(new Error('password hasher is closed'));
    if (slots.length === 0) {
      crashesInARow = 0;
      for (let i = 0; i < options.threads; i += 1) slots.push(spawn());
    }
    return new Promise<T>((resolve, reject) => {
      queue.push({ job, resolve: resolve as (value: unknown) => void, reject });
      dispatch();
    });
  };

  return {
    hash: (password) => run<string>({ id: nextId++, op: 'hash', password, cost: options.cost }),
    verify: (password, hash) => run<boolean>({ id: nextId++, op: 'compare', password, hash: hash ?? absentHash }).then(
      (matches) => hash !== null && matches,
    ),
    close: async () => {
      closed = true;
      for (const pending of queue.splice(0)) pending.reject(new Error('password hasher is closed'));
      await Promise.all(slots.map((slot) => slot.worker.terminate()));
    },
  };
}
