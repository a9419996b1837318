import { HttpError } from '../http/errors.js';

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

/** How many times a change is computed again after a {@link Moved}. */
const ATTEMPTS = 3;

/**
 * Runs `attempt` until it does not throw {@link Moved}; after the last
 * attempt, 409 `concurrent_change` (the caller may simply try again).
 */
export async function retryMoved<T>(attempt: () => Promise<T>): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof Moved)) throw err;
      if (n >= ATTEMPTS) throw new HttpError(409, 'concurrent_change', `${err.message} ${ATTEMPTS} times in a row; try again`);
    }
  }
}
