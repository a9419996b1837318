/**
 * Which of Fusion's URLs (replicas on one database, or one Fusion) the agent
 * talks to now, and which it tries next. The list is shuffled once per start,
 * so a fleet given the same list spreads over the replicas; after that the
 * order is fixed, and a failure moves on to the next URL.
 *
 * Every control-plane request reads {@link current} when it is made (the
 * socket, enrollment, polls, status reports, credential rotation, package
 * downloads), so one switch moves all of them.
 *
 * Rounds: a failure counts towards the current round; once every URL has
 * failed since the last success the round is complete, and only then does the
 * caller grow its backoff. Inside a round it steps on after a short jittered
 * pause ({@link stepDelayMs}), so losing one replica costs about one step, and
 * a fleet does not arrive at the next replica in the same millisecond.
 *
 * A replica that said when to come back (the reconnect hint of a planned
 * shutdown) is held off until then: the next URL chosen skips it while any
 * other is free, so its agents move to the other replicas at once.
 */
export interface ControlPlaneTargetsOptions {
  /** The URLs as configured (at least one, no duplicates: bootstrap validates this). */
  uris: readonly string[];
  /** Random source in [0, 1), for the shuffle and the step jitter; tests pass a seeded one. */
  random?: () => number;
  /** The longest pause between two URLs of one round, in ms (the bootstrap backoff.base_ms). */
  stepMs: number;
  /** Clock, in ms; swappable for tests. */
  now?: () => number;
}

export class ControlPlaneTargets {
  /** The URLs in the order this agent tries them. */
  readonly order: readonly string[];
  private index = 0;
  private failuresInRound = 0;
  private readonly heldUntil = new Map<string, number>();
  private readonly random: () => number;
  private readonly now: () => number;

  constructor(private readonly options: ControlPlaneTargetsOptions) {
    if (options.uris.length === 0) throw new RangeError('at least one control plane URL is needed');
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    this.order = shuffled(options.uris, this.random);
  }

  /** The URL in use: the one every control-plane request goes to now. */
  get current(): string {
    return this.order[this.index]!;
  }

  /** How many URLs there are to choose from. */
  get size(): number {
    return this.order.length;
  }

  /**
   * The current URL failed (no answer, refused, a connection that ended):
   * moves to the next one that is not held off (when every one is, to the
   * one free soonest). True when that completed a round, i.e. every URL has
   * failed since the last {@link succeeded} (with one URL: every failure).
   */
  failed(): boolean {
    this.index = this.nextIndex();
    this.failuresInRound += 1;
    if (this.failuresInRound < this.order.length) return false;
    this.failuresInRound = 0;
    return true;
  }

  /** The current URL answered (a poll) or held a stable connection: a new round starts from it. */
  succeeded(): void {
    this.failuresInRound = 0;
  }

  /** The index after the current one in order, skipping URLs still held off. */
  private nextIndex(): number {
    const now = this.now();
    let soonest = (this.index + 1) % this.order.length;
    for (let step = 1; step <= this.order.length; step += 1) {
      const i = (this.index + step) % this.order.length;
      const until = this.heldUntil.get(this.order[i]!) ?? 0;
      if (until <= now) return i;
      if (until < (this.heldUntil.get(this.order[soonest]!) ?? 0)) soonest = i;
    }
    return soonest;
  }

  /** `uri` asked not to be dialled for `ms` (a planned shutdown's hint). */
  holdOff(uri: string, ms: number): void {
    if (ms > 0) this.heldUntil.set(uri, Math.max(this.heldUntil.get(uri) ?? 0, this.now() + ms));
  }

  /** How long the current URL is still held off, in ms (0 when it may be dialled now). */
  heldMs(): number {
    const until = this.heldUntil.get(this.current);
    if (until === undefined) return 0;
    const left = until - this.now();
    if (left <= 0) this.heldUntil.delete(this.current);
    return Math.max(0, left);
  }

  /** The pause before trying the next URL inside a round: its hold-off, plus jitter up to `stepMs`. */
  stepDelayMs(): number {
    return this.heldMs() + Math.floor(this.random() * this.options.stepMs);
  }
}

/** Fisher-Yates: every order equally likely. */
function shuffled(values: readonly string[], random: () => number): string[] {
  const out = [...values];
  for (let i = out.length - 1; i > 0; i -= 1) {
    const j = Math.min(i, Math.floor(random() * (i + 1)));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** The targets of a resolved bootstrap (its list, or its one URL), shuffled with `random`. */
export function targetsOf(
  bootstrap: { controlPlaneUri?: string; controlPlaneUris?: string[]; backoff: { baseMs: number } },
  random?: () => number,
): ControlPlaneTargets {
  const uris = bootstrap.controlPlaneUris ?? (bootstrap.controlPlaneUri === undefined ? [] : [bootstrap.controlPlaneUri]);
  return new ControlPlaneTargets({ uris, stepMs: bootstrap.backoff.baseMs, ...(random && { random }) });
}
