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
 * then, {@link spent} says so and {@link next} resolves in the next turn.
 * Work deferred this way keeps its order: immediates run first in, first out.
 */
export class TurnBudget {
  private started: number | undefined;
  private waiting: Promise<void> | undefined;

  constructor(private readonly budgetMs = 8) {}

  /** True when this turn has used its budget: call {@link next} and go on there. */
  spent(): boolean {
    const now = performance.now();
    if (this.started === undefined) {
      this.started = now;
      setImmediate(() => {
        this.started = undefined;
        this.waiting = undefined;
      });
      return false;
    }
    return now - this.started >= this.budgetMs;
  }

  /** Resolves in the next turn of the loop (shared by everything deferred in this one). */
  next(): Promise<void> {
    return (this.waiting ??= new Promise<void>((resolve) => setImmediate(resolve)));
  }
}

/**
 * The process's one budget: SQLite statements and agents' frames draw on it
 * together, so neither can hold a turn for long because the other used it.
 */
export const loopTurn = new TurnBudget();
