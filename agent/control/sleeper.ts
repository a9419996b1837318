/**
 * Waits that stop() can cut short, so an agent waiting out a backoff or a poll
 * interval stops at once. The timers are not unref'd: while the agent waits to
 * reconnect, that wait is what keeps the process alive.
 */
export class Sleeper {
  private readonly pending = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();

  /** Resolves after `ms`, or as soon as {@link wakeAll} is called. Never rejects. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.pending.delete(entry);
          resolve();
        }, Math.max(0, ms)),
        resolve,
      };
      this.pending.add(entry);
    });
  }

  /** Ends every pending sleep now. */
  wakeAll(): void {
    for (const entry of this.pending) {
      clearTimeout(entry.timer);
      entry.resolve();
    }
    this.pending.clear();
  }
}
