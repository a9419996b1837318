import { setTimeout as delay } from 'node:timers/promises';
import { Backoff } from '../../shared/backoff.js';
import {
  SenderError,
  type EncodedRecords,
  type FileRecord,
  type ScanMarker,
  type Sender,
  type SenderFactory,
  type SendReceipt,
  type SenderSession,
} from '../runtime/driver-types.js';
import type { PipeContext } from '../runtime/types.js';
import type { TlsMaterial } from '../control/tls-files.js';
import { FusionClient, type FusionFailure } from './fusion-client.js';

/** Records per request when the sender config sets no `batch_size`. */
export const DEFAULT_BATCH_SIZE = 1_000;
/** Most events Fusion takes in one request. */
export const MAX_EVENTS_PER_REQUEST = 10_000;
/** Failures in a row before the pipe is shown as `error` when the pipe sets no `max_consecutive_errors`. */
export const DEFAULT_MAX_CONSECUTIVE_ERRORS = 3;

const SESSIONS_PATH = '/api/v1/pipe/sessions';

export interface FusionSenderOptions {
  /** First retry ceiling, ms (default 500). */
  retryBaseMs?: number;
  /** Largest retry ceiling, ms (default 30,000). */
  retryCapMs?: number;
  /** Longest a single request may take, ms (default 30,000). */
  requestTimeoutMs?: number;
  /** Longest closing the session may take when the pipe stops, ms (default 2,000). */
  closeTimeoutMs?: number;
  /**
   * The agent's TLS material (bootstrap `ca`, `cert`, `key`) for https sender
   * uris: the CA Fusion's certificate must chain to and the client certificate
   * for mutual TLS. Holds a private key: never log it.
   */
  tls?: TlsMaterial;
}

/**
 * Sender driver `fusion`: pushes records to a Fusion receiver over HTTP (the
 * data-plane contract). `uri` is Fusion's base URL, `credential.key` the
 * receiver's API key; an https `uri` trusts the agent's CA and presents its
 * client certificate, like the control channel. Transient failures (unreachable, 5xx, 408, 429) are
 * retried with exponential backoff and full jitter until they succeed or the
 * pipe stops; a session the receiver lost (404) is reopened; any other 4xx is
 * a refusal reported in the pipe status.
 */
export class FusionSender implements Sender {
  readonly batchSize: number;
  private readonly client: FusionClient;
  private session: SenderSession | null = null;
  private opening: Promise<SenderSession> | null = null;
  private opened = false;
  private recordsSent = 0;
  private consecutiveFailures = 0;
  private showingError = false;
  private readonly replacedListeners: Array<() => void> = [];

  constructor(
    private readonly ctx: PipeContext,
    private readonly options: FusionSenderOptions = {},
  ) {
    const { sender } = ctx.spec;
    const key = sender.credential?.key;
    if (!key) throw new Error('fusion sender needs credential.key (the receiver API key)');
    this.client = new FusionClient(sender.uri, key, options.requestTimeoutMs ?? 30_000, options.tls);
    this.batchSize = Math.min(sender.batch_size ?? DEFAULT_BATCH_SIZE, MAX_EVENTS_PER_REQUEST);
  }

  open(): Promise<SenderSession> {
    if (this.session) return Promise.resolve(this.session);
    this.opening ??= this.openSession().finally(() => {
      this.opening = null;
    });
    return this.opening;
  }

  async send(records: readonly FileRecord[] | EncodedRecords, scan?: ScanMarker): Promise<SendReceipt> {
    const count = isEncoded(records) ? records.count : records.length;
    if (count > MAX_EVENTS_PER_REQUEST) return this.sendSplit(decoded(records), scan);
    const body = `{"events":${isEncoded(records) ? records.json : JSON.stringify(records)}${scan ? `,"scan":${JSON.stringify(scan)}` : ''}}`;
    const backoff = this.newBackoff();
    let sessionsLost = 0;
    for (;;) {
      const session = await this.open();
      const path = `${SESSIONS_PATH}/${encodeURIComponent(session.id)}/events`;
      const result = await this.client.request('POST', path, body, this.ctx.signal, ownerHeader(session));
      if (result.ok) {
        this.recordsSent += count;
        this.ctx.report({ records_sent: this.recordsSent });
        this.succeeded();
        const removed = (result.body as { removed?: unknown } | undefined)?.removed;
        return { removed: typeof removed === 'number' && removed >= 0 ? removed : 0 };
      }
      const { failure } = result;
      if (failure.kind === 'not_found') {
        this.lose(session, failure);
        // A receiver that loses every new session is broken: slow down instead of spinning.
        if (++sessionsLost > 1) await this.pause(backoff);
      } else if (failure.kind === 'too_large' && count > 1) {
        return this.sendSplit(decoded(records), scan);
      } else if (failure.kind === 'transient') {
        this.failed(failure.message);
        await this.pause(backoff, failure.retryAfterMs);
      } else {
        throw this.refused(failure);
      }
    }
  }

  async heartbeat(): Promise<void> {
    const session = this.session;
    if (!session || this.ctx.signal.aborted) return;
    try {
      const path = `${SESSIONS_PATH}/${encodeURIComponent(session.id)}/heartbeat`;
      const result = await this.client.request('POST', path, undefined, this.ctx.signal, ownerHeader(session));
      if (result.ok) {
        const role = (result.body as { role?: unknown } | undefined)?.role;
        if (role === 'leader' || role === 'follower') session.role = role;
        this.succeeded();
        return;
      }
      if (result.failure.kind === 'not_found') {
        this.lose(session, result.failure);
        await this.open();
      } else {
        this.failed(result.failure.message);
      }
    } catch (err) {
      // Aborted by a stop, or a refusal open() already reported: nothing more to do here.
      if (!this.ctx.signal.aborted && !(err instanceof SenderError)) this.failed((err as Error).message);
    }
  }

  onSessionReplaced(listener: () => void): void {
    this.replacedListeners.push(listener);
  }

  /** Ends the receiver session (when one is open) and closes the pooled connections. */
  async close(options: { retire?: boolean } = {}): Promise<void> {
    // A stopping pipe's session request still in flight ends within the close
    // grace; the session it may have opened is closed here, not orphaned.
    if (this.ctx.signal.aborted && this.opening) await this.opening.catch(() => undefined);
    const session = this.session;
    this.session = null;
    try {
      if (session) await this.closeSession(session, options.retire === true);
    } finally {
      this.client.close();
    }
  }

  private async closeSession(session: SenderSession, retire = false): Promise<void> {
    try {
      const path = `${SESSIONS_PATH}/${encodeURIComponent(session.id)}${retire ? '?retire=true' : ''}`;
      const result = await this.client.request('DELETE', path, undefined, AbortSignal.timeout(this.options.closeTimeoutMs ?? 2_000), ownerHeader(session));
      if (!result.ok && result.failure.kind !== 'not_found') {
        this.ctx.logger.warn({ session: session.id }, `closing the session failed: ${result.failure.message}`);
      }
    } catch {
      this.ctx.logger.warn({ session: session.id }, 'closing the session timed out');
    }
  }

  private async openSession(): Promise<SenderSession> {
    const backoff = this.newBackoff();
    const { spec, agentId, signal } = this.ctx;
    for (;;) {
      signal.throwIfAborted();
      const result = await this.withCloseGrace((graced) =>
        this.client.request('POST', SESSIONS_PATH, { agent_id: agentId, pipe_id: spec.id, source_uri: spec.source.uri }, graced),
      );
      const session = result.ok ? sessionFrom(result.body) : null;
      if (signal.aborted) {
        // The pipe stopped while Fusion was opening the session: close it rather than leave it to time out.
        if (session) await this.closeSession(session);
        signal.throwIfAborted();
      }
      if (session) {
        this.session = session;
        this.succeeded();
        this.ctx.logger.info({ session: session.id, role: session.role }, 'receiver session opened');
        if (this.opened) this.notifyReplaced();
        this.opened = true;
        return session;
      }
      let hintMs: number | undefined;
      if (result.ok) this.failed(`fusion ${SESSIONS_PATH} answered without a session id`);
      else if (result.failure.kind === 'transient') {
        this.failed(result.failure.message);
        hintMs = result.failure.retryAfterMs;
      } else throw this.refused(result.failure);
      await this.pause(backoff, hintMs);
    }
  }

  /**
   * Runs a request that should not be cut off the moment the pipe stops (its
   * answer may hold a session to close): its signal aborts only the close
   * grace (closeTimeoutMs) after the pipe's.
   */
  private async withCloseGrace<T>(run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const { signal } = this.ctx;
    const graced = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      timer = setTimeout(() => graced.abort(signal.reason), this.options.closeTimeoutMs ?? 2_000);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await run(graced.signal);
    } finally {
      signal.removeEventListener('abort', onAbort);
      clearTimeout(timer);
    }
  }

  private async sendSplit(records: readonly FileRecord[], scan: ScanMarker | undefined): Promise<SendReceipt> {
    const size = records.length > MAX_EVENTS_PER_REQUEST ? MAX_EVENTS_PER_REQUEST : Math.ceil(records.length / 2);
    let removed = 0;
    for (let start = 0; start < records.length; start += size) {
      const last = start + size >= records.length;
      const part = scan && (last ? scan : { ...scan, done: false, keep: undefined });
      removed += (await this.send(records.slice(start, start + size), part)).removed;
    }
    return { removed };
  }

  private lose(session: SenderSession, failure: FusionFailure): void {
    if (this.session?.id === session.id) this.session = null;
    this.ctx.logger.warn({ session: session.id }, `receiver lost the session, opening a new one (${failure.message})`);
  }

  private notifyReplaced(): void {
    for (const listener of this.replacedListeners) {
      try {
        listener();
      } catch (err) {
        this.ctx.logger.error({ err: (err as Error).message }, 'session listener threw');
      }
    }
  }

  private refused(failure: Exclude<FusionFailure, { kind: 'transient' }>): SenderError {
    this.failed(failure.message, true);
    return new SenderError(failure.message, failure.kind === 'refused' ? failure.status : failure.kind === 'too_large' ? 413 : 404, 'code' in failure ? failure.code : undefined);
  }

  /** Counts a failure; the pipe shows `error` at once for a refusal, else after max_consecutive_errors in a row. */
  private failed(message: string, refusal = false): void {
    this.consecutiveFailures += 1;
    const limit = this.ctx.spec.pipe.max_consecutive_errors ?? DEFAULT_MAX_CONSECUTIVE_ERRORS;
    const showError = refusal || this.consecutiveFailures >= limit;
    if (showError) this.showingError = true;
    this.ctx.logger.warn({ failures: this.consecutiveFailures }, message);
    this.ctx.report({ last_error: message, ...(showError ? { state: 'error' as const } : {}) });
  }

  private succeeded(): void {
    this.consecutiveFailures = 0;
    if (this.showingError) {
      this.showingError = false;
      this.ctx.report({ state: 'running' });
    }
  }

  private newBackoff(): Backoff {
    const baseMs = this.options.retryBaseMs ?? 500;
    return new Backoff({ baseMs, capMs: Math.max(baseMs, this.options.retryCapMs ?? 30_000) });
  }

  /** Waits the next backoff step (at least `hintMs`); rejects when the pipe stops. */
  private async pause(backoff: Backoff, hintMs?: number): Promise<void> {
    await delay(backoff.next(hintMs), undefined, { signal: this.ctx.signal });
  }
}

/** The factory the driver registry holds for `fusion`. */
export function createFusionSenderFactory(options: FusionSenderOptions = {}): SenderFactory {
  return (ctx: PipeContext) => new FusionSender(ctx, options);
}

function isEncoded(records: readonly FileRecord[] | EncodedRecords): records is EncodedRecords {
  return !Array.isArray(records);
}

function decoded(records: readonly FileRecord[] | EncodedRecords): readonly FileRecord[] {
  return isEncoded(records) ? (JSON.parse(records.json) as FileRecord[]) : records;
}

function sessionFrom(body: unknown): SenderSession | null {
  const b = body as { session_id?: unknown; role?: unknown; heartbeat_interval_seconds?: unknown; session_token?: unknown } | undefined;
  if (!b || typeof b.session_id !== 'string' || b.session_id === '') return null;
  const seconds = typeof b.heartbeat_interval_seconds === 'number' && b.heartbeat_interval_seconds > 0 ? b.heartbeat_interval_seconds : 10;
  const token = typeof b.session_token === 'string' && b.session_token !== '' ? b.session_token : undefined;
  return { id: b.session_id, role: b.role === 'follower' ? 'follower' : 'leader', heartbeatIntervalMs: seconds * 1000, ...(token && { token }) };
}

/** The header that proves this sender opened the session (the receiver refuses others' pushes, heartbeats and closes). */
function ownerHeader(session: SenderSession): Record<string, string> {
  return session.token ? { 'x-session-token': session.token } : {};
}
