import { HttpError } from '../http/errors.js';
import type { Sql } from '../store/sql.js';

/**
 * Thrown under a group's lock when what a change was computed from (the
 * group's revision, its members' render inputs, a member's record) changed
 * since it was read: the transaction rolls back and the change is computed
 * again from what is stored now.
 */
export class Moved extends Error {
  constructor(what: string) {
    super(`${what} changed while the change was being made`);
  }
}

/**
 * Runs `attempt` optimistically: its reads and its rendering hold no lock,
 * and its transaction checks under the group's lock that nothing moved (else
 * it throws {@link Moved}). Overtaken, it runs once more inside a transaction
 * that takes the group's lock first, so nothing can move between its reads
 * and its commit (the first attempt does not hold the group's other writers
 * while it renders; the second cannot be overtaken again). A Moved even then
 * is 409 `concurrent_change`.
 *
 * The second attempt's writes commit with the outer transaction: what they
 * announce to agents leaves as their own (nested) transaction ends, a moment
 * before that commit, and an agent's answer that arrives meanwhile waits for
 * it (its agent row is locked by the save, and on SQLite the transaction
 * holds the connection).
 */
export async function lockedOnRetry<T>(sql: Sql, lock: () => Promise<void>, attempt: () => Promise<T>): Promise<T> {
  try {
    return await attempt();
  } catch (err) {
    if (!(err instanceof Moved)) throw err;
  }
  try {
    return await sql.transaction(async () => {
      await lock();
      return attempt();
    });
  } catch (err) {
    if (err instanceof Moved) throw new HttpError(409, 'concurrent_change', `${err.message}; try again`);
    throw err;
  }
}

/**
 * One queue per group for the changes this process makes to it (template
 * saves, member changes, review decisions): they run one after the other, so
 * they never make each other compute again. Changes from other processes
 * on the same database are caught by the lock and the checks (see
 * {@link Moved}); this only saves the work of a retry within one process.
 */
export class GroupQueues {
  /** Per group, the end of the last change queued (it never rejects). */
  private readonly tails = new Map<string, { done: Promise<void> }>();

  run<T>(group: string, work: () => Promise<T>): Promise<T> {
    const result = (this.tails.get(group)?.done ?? Promise.resolve()).then(work);
    const tail = { done: result.then(done, done) };
    this.tails.set(group, tail);
    void tail.done.then(() => {
      if (this.tails.get(group) === tail) this.tails.delete(group);
    });
    return result;
  }
}

function done(): void {}
