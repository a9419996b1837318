/**
 * How much synchronous work one turn of the event loop may do before work
 * that can wait is moved to the next turn. SQLite statements run
 * synchronously and their promises settle as microtasks, so a transaction
 * of 10,000 rows, or a thousand hellos handled in one poll of the sockets,
 * would otherwise hold the loop for hundreds of milliseconds: no ping is
 * answered, no timer fires, no other request is read meanwhile.
 *
 * A turn starts with the first {@link spent} call after the previous turn
 * ended (a setImmediate marks the end). Once `budgetMs` have passed since
 * then, {@link spent} says so, and {@link next} queues the caller for a later
 * turn. The queue is first in, first out, and wakes its callers one at a
 * time (each runs up to its first wait before the next is woken) only while
 * the turn's budget lasts; the rest sleep on. So thousands of deferred
 * statements or frames cost nothing in the turns they do not run in (waking
 * them all every turn, to find the budget spent again, was a stall of its own
 * that grew with the queue).
 */
export class TurnBudget {
  private started: number | undefined;
  private readonly queue: Array<() => void> = [];
  /** Where the queue's head is (entries before it were woken; the array is compacted now and then). */
  private head = 0;
  private drainScheduled = false;

  constructor(private readonly budgetMs = 8) {}

  /** True when this turn has used its budget: call {@link next} and go on there. */
  spent(): boolean {
    const now = performance.now();
    if (this.started === undefined) {
      this.started = now;
      setImmediate(() => {
        this.started = undefined;
      });
      return false;
    }
    return now - this.started >= this.budgetMs;
  }

  /**
   * Resolves in a later turn with budget left, after everything that waited
   * before it. The caller is woken to run: it goes on without asking
   * {@link spent} again (with a budget of 0, that would always say spent).
   */
  next(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.queue.push(resolve);
      this.scheduleDrain();
    });
  }

  /** Callers waiting for a turn. */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  private scheduleDrain(): void {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    setImmediate(() => {
      this.drainScheduled = false;
      this.drain();
    });
  }

  /** Wakes the queue's head while the budget lasts; each next one after the woken one's first stretch of work (a microtask later). */
  private readonly drain = (): void => {
    if (this.waiting === 0) return;
    if (this.spent()) {
      this.scheduleDrain();
      return;
    }
    const resolve = this.queue[this.head]!;
    this.head++;
    if (this.head === this.queue.length) {
      // Emptied: nothing woken stays referenced.
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    resolve();
    queueMicrotask(this.drain);
  };
}

/**
 * The process's one budget: SQLite statements and agents' frames draw on it
 * together, so neither can hold a turn for long because the other used it.
 */
export const loopTurn = new TurnBudget();
