/**
 * Declares a peer dead when nothing was heard from it for a while. Each frame,
 * ping or pong only records a time stamp; one timer checks it, so a busy
 * connection does not churn timers.
 */
export class HeartbeatWatchdog {
  private timer: NodeJS.Timeout | null = null;
  private lastHeard = Date.now();
  private timeoutMs = 0;

  constructor(private readonly onSilent: (silentMs: number) => void) {}

  /** (Re)starts watching: `onSilent` runs once nothing is heard for `timeoutMs`. */
  arm(timeoutMs: number): void {
    this.timeoutMs = timeoutMs;
    this.lastHeard = Date.now();
    this.schedule(timeoutMs);
  }

  /** Something was heard from the peer. */
  touch(): void {
    this.lastHeard = Date.now();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(delayMs: number): void {
    this.stop();
    this.timer = setTimeout(() => this.check(), delayMs);
    this.timer.unref(); // the socket, not the watchdog, keeps the process alive
  }

  private check(): void {
    this.timer = null;
    const silentMs = Date.now() - this.lastHeard;
    if (silentMs >= this.timeoutMs) {
      this.onSilent(silentMs);
      return;
    }
    this.schedule(this.timeoutMs - silentMs);
  }
}
