import type { Logger } from '../../shared/logger.js';
import type { FusionEvents } from '../events/event-bus.js';
import type { WebhookSigning } from './webhook-signing.js';
import type { Delivery, Webhook, WebhookStore } from './webhook-store.js';


/** Deliveries held off at once after failures to record their attempt (a database outage). */
const MAX_HELD_OFF = 10_000;
export interface DispatcherOptions {
  /** Attempts before a delivery is given up (failed). Default 8. */
  maxAttempts?: number;
  /** First retry delay; each next one doubles, up to `maxDelayMs`. Default 1 s. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** How long one attempt may take. Default 5 s. */
  timeoutMs?: number;
  /** Deliveries in flight at once, across webhooks. Default 8. */
  concurrency?: number;
  /** Pending deliveries one webhook may have; events past that are not queued for it (and logged). Default 10,000. */
  maxPendingPerWebhook?: number;
  /** How often due retries are looked for. Default 1 s. */
  pollMs?: number;
  /** How often the subscriptions are read again, 0 never (replicas: a webhook created on another one). Default 0. */
  reloadMs?: number;
}

/** Whether a webhook subscribed to an event type (`agent.*` matches `agent.offline`). */
export function subscribed(hook: Pick<Webhook, 'events'>, type: string): boolean {
  return hook.events.some((pattern) => pattern === type || pattern === '*' || (pattern.endsWith('.*') && type.startsWith(pattern.slice(0, -1))));
}

/**
 * Sends Fusion's events to webhook subscribers: each matching event is queued
 * durably (one row per webhook) and POSTed as JSON with an HMAC signature;
 * a failure (network, timeout, non-2xx) is retried with exponential backoff
 * until `maxAttempts`, then marked failed. The queue is the database, so a
 * restart resumes where it stopped. Bounded: a fixed number of deliveries in
 * flight, a cap on each webhook's backlog, a timeout per attempt.
 */
export class WebhookDispatcher {
  private readonly o: Required<DispatcherOptions>;
  private readonly inFlight = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  private pumping = false;
  private pumpAgain = false;
  private unsubscribe: (() => void) | undefined;
  private readonly abort = new AbortController();
  private hooks: Webhook[] = [];

  constructor(
    private readonly deps: { store: WebhookStore; signing: WebhookSigning; bus: Pick<FusionEvents, 'subscribeOwn'>; log: Logger },
    options: DispatcherOptions = {},
  ) {
    this.o = {
      maxAttempts: options.maxAttempts ?? 8,
      baseDelayMs: options.baseDelayMs ?? 1000,
      maxDelayMs: options.maxDelayMs ?? 3_600_000,
      timeoutMs: options.timeoutMs ?? 5000,
      concurrency: options.concurrency ?? 8,
      maxPendingPerWebhook: options.maxPendingPerWebhook ?? 10_000,
      pollMs: options.pollMs ?? 1000,
      reloadMs: options.reloadMs ?? 0,
    };
  }

  async start(): Promise<void> {
    await this.reload();
    this.unsubscribe = this.deps.bus.subscribeOwn((event) => {
      const hooks = this.hooks.filter((hook) => subscribed(hook, event.type));
      if (hooks.length) void this.queue(hooks, event.type, JSON.stringify(event)).catch((err: unknown) => this.deps.log.error({ err, type: event.type }, 'cannot queue webhook deliveries'));
    });
    this.timer = setInterval(() => this.pumpSafely(), this.o.pollMs);
    this.timer.unref();
    if (this.o.reloadMs > 0) {
      this.reloadTimer = setInterval(() => this.reload().catch((err: unknown) => this.deps.log.warn({ err }, 'cannot read the webhook subscriptions again')), this.o.reloadMs);
      this.reloadTimer.unref();
    }
    this.pumpSafely();
  }

  /** Re-reads the subscriptions (after one is created or deleted). */
  async reload(): Promise<void> {
    this.hooks = await this.deps.store.list();
  }

  /** Queues an event for some webhooks (e.g. a test ping) and sends it at once. */
  async queue(hooks: Webhook[], type: string, payload: string): Promise<number[]> {
    const open: Webhook[] = [];
    for (const hook of hooks) {
      if ((await this.deps.store.pendingCount(hook.id)) < this.o.maxPendingPerWebhook) open.push(hook);
      else this.deps.log.warn({ webhook: hook.id, type }, 'webhook backlog full; event not queued for it');
    }
    const ids = open.length ? await this.deps.store.enqueue(open, type, payload, Date.now()) : [];
    this.pumpSafely();
    return ids;
  }

  stop(): void {
    this.unsubscribe?.();
    if (this.timer) clearInterval(this.timer);
    if (this.reloadTimer) clearInterval(this.reloadTimer);
    this.abort.abort();
  }

  /** One pump at a time (each claims only what it has room for); a call meanwhile runs another after it. */
  private pumpSafely(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    this.pump()
      .catch((err: unknown) => this.deps.log.error({ err }, 'cannot read due webhook deliveries'))
      .finally(() => {
        this.pumping = false;
        if (this.pumpAgain) {
          this.pumpAgain = false;
          this.pumpSafely();
        }
      });
  }

  private async pump(): Promise<void> {
    const room = this.o.concurrency - this.inFlight.size;
    if (room <= 0) return;
    const now = Date.now();
    // Claimed past one attempt's timeout: replicas sharing the queue never send one delivery twice at once.
    for (const delivery of await this.deps.store.claimDue(now, room, now + this.o.timeoutMs + 1000)) {
      if (this.inFlight.has(delivery.id)) continue;
      const heldUntil = this.heldOff.get(delivery.id);
      if (heldUntil !== undefined) {
        if (heldUntil > Date.now()) continue;
        this.heldOff.delete(delivery.id);
      }
      this.inFlight.add(delivery.id);
      let recorded = true;
      void this.attempt(delivery)
        .catch((err: unknown) => {
          // Still pending in the database: without a pause it would be sent again at once, and again.
          recorded = false;
          if (this.heldOff.size < MAX_HELD_OFF) this.heldOff.set(delivery.id, Date.now() + this.o.baseDelayMs);
          this.deps.log.error({ err, delivery: delivery.id }, 'cannot record a webhook delivery attempt; it is tried again later');
        })
        .finally(() => {
          this.inFlight.delete(delivery.id);
          if (recorded) this.pumpSafely();
        });
    }
  }

  /** Deliveries whose attempt could not be recorded, and when they may go again (bounded; the periodic pump retries). */
  private readonly heldOff = new Map<number, number>();

  private async attempt(delivery: Delivery): Promise<void> {
    const hook = this.hooks.find((h) => h.id === delivery.webhook_id) ?? (await this.deps.store.get(delivery.webhook_id));
    if (!hook) return; // deleted meanwhile: its deliveries went with it
    const timestamp = Math.floor(Date.now() / 1000);
    let httpStatus: number | null = null;
    let error: string | null = null;
    try {
      const res = await fetch(hook.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'fustor-fusion-webhook',
          'x-fustor-event': delivery.event_type,
          'x-fustor-delivery': String(delivery.id),
          'x-fustor-timestamp': String(timestamp),
          'x-fustor-signature': this.deps.signing.sign(hook.id, timestamp, delivery.payload),
        },
        body: delivery.payload,
        redirect: 'manual',
        signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.o.timeoutMs)]),
      });
      httpStatus = res.status;
      await res.body?.cancel();
      if (res.status < 200 || res.status >= 300) error = `HTTP ${res.status}`;
    } catch (err) {
      if (this.abort.signal.aborted) return; // stopping: it stays pending and goes after the restart
      error = (err as Error).name === 'TimeoutError' ? `no answer within ${this.o.timeoutMs} ms` : (err as Error).message;
    }
    const now = Date.now();
    const attempts = delivery.attempts + 1;
    if (error === null) await this.deps.store.attempted(delivery.id, { status: 'succeeded', httpStatus, error: null, nextAttemptAt: null, now });
    else if (attempts >= this.o.maxAttempts) {
      await this.deps.store.attempted(delivery.id, { status: 'failed', httpStatus, error, nextAttemptAt: null, now });
      this.deps.log.warn({ webhook: hook.id, delivery: delivery.id, attempts, error }, 'webhook delivery failed for good');
    } else {
      const delay = Math.min(this.o.maxDelayMs, this.o.baseDelayMs * 2 ** (attempts - 1));
      await this.deps.store.attempted(delivery.id, { status: 'pending', httpStatus, error, nextAttemptAt: now + delay, now });
    }
  }
}
