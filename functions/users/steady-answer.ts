import { setTimeout as delay } from 'node:timers/promises';

/**
 * The email request functions answer a fixed time after the request arrived (EMAIL_REQUEST_ANSWER_MS,
 * default 150 ms), whatever they found: well above the work of either path (two rate-limit hits, a
 * lookup, and for an account a token, a sealed event and its publication), so the answer's timing
 * cannot tell whether an account has the address.
 */

/** When the answer may leave; undefined when there is no floor to keep (unit tests pass 0). */
export type AnswerFloor = Promise<void> | undefined;

/**
 * Runs `work` and answers (returns or throws) no earlier than `floorMs` after the call. `work` is
 * given the floor, to stop waiting for what may run over it (publishing to a slow sink) rather than
 * answer later than the floor.
 */
export async function answerSteadily<T>(floorMs: number, work: (floor: AnswerFloor) => Promise<T>): Promise<T> {
  const floor = floorMs > 0 ? delay(floorMs) : undefined;
  try {
    return await work(floor);
  } finally {
    await floor;
  }
}

/**
 * Waits for `task` until the floor is reached and no longer (without a floor, until it is done);
 * a task still running goes on by itself, so it must never reject. True when it finished in time.
 */
export async function awaitWithinFloor(task: Promise<unknown>, floor: AnswerFloor): Promise<boolean> {
  const done = task.then(() => true);
  return floor ? Promise.race([done, floor.then(() => false)]) : done;
}
