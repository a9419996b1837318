/**
 * One HTTP exchange with a Fusion receiver, classified for the sender's retry
 * logic. The API key travels in `X-API-Key` and never appears in a message.
 * Requests go through node:http / node:https with the agent's TLS material (a
 * private CA, a client certificate for mutual TLS) over a keep-alive pool of
 * the client's own, so a pipe's batches reuse their connections.
 */
import type { Agent as HttpAgent } from 'node:http';
import { httpRequest, HttpRequestError, keepAliveAgent, type HttpResponse } from '../control/http-client.js';
import { isTlsFailure, type TlsMaterial } from '../control/tls-files.js';

/** Largest answer a receiver sends (a small JSON object); anything longer is a broken receiver. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

/** Why a request did not succeed, and what the sender should do about it. */
export type FusionFailure =
  /** Unreachable, timed out, 5xx, 408 or 429: retry with backoff (no sooner than `retryAfterMs` when given). */
  | { kind: 'transient'; message: string; retryAfterMs?: number }
  /** 404: the session (or route) is unknown to the receiver. */
  | { kind: 'not_found'; message: string; code?: string }
  /** 413: the batch is larger than the receiver takes. */
  | { kind: 'too_large'; message: string }
  /** Any other 4xx: retrying the same request will not help. */
  | { kind: 'refused'; message: string; status: number; code?: string };

export type FusionResult = { ok: true; status: number; body: unknown } | { ok: false; failure: FusionFailure };

export class FusionClient {
  private readonly base: string;
  private readonly pool: HttpAgent;
  private readonly tls: TlsMaterial | undefined;

  /** `tls` (CA, client certificate; contains a private key) is used for https URLs. */
  constructor(
    baseUrl: string,
    private readonly apiKey: string,
    private readonly requestTimeoutMs: number,
    tls?: TlsMaterial,
  ) {
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch {
      throw new Error(`fusion sender uri "${baseUrl}" is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error(`fusion sender uri "${baseUrl}" must be http:// or https://`);
    }
    this.base = url.href.replace(/\/+$/, '');
    this.tls = url.protocol === 'https:' ? tls : undefined;
    this.pool = keepAliveAgent(url.protocol, this.tls);
  }

  /** Closes the pooled connections. A later request opens new ones. */
  close(): void {
    this.pool.destroy();
  }

  /**
   * Sends one request (a string body is sent as it is: JSON text already).
   * Resolves with the parsed answer or a classified failure; rejects only
   * when `signal` aborts (with the signal's reason).
   */
  async request(method: 'POST' | 'DELETE', path: string, body: unknown, signal: AbortSignal, headers: Record<string, string> = {}): Promise<FusionResult> {
    const what = `${method} ${path}`;
    let response: HttpResponse;
    try {
      response = await httpRequest(this.base + path, {
        method,
        headers: {
          ...headers,
          'x-api-key': this.apiKey,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
        timeoutMs: this.requestTimeoutMs,
        signal,
        agent: this.pool,
        maxBodyBytes: MAX_RESPONSE_BYTES,
        ...(this.tls ? { tls: this.tls } : {}),
      });
    } catch (err) {
      signal.throwIfAborted();
      return { ok: false, failure: { kind: 'transient', message: `fusion unreachable (${what}): ${networkReason(err)}` } };
    }
    const parsed = parseJson(response.body.toString('utf8'));
    if (response.status >= 200 && response.status < 300) return { ok: true, status: response.status, body: parsed };

    const error = errorBody(parsed);
    const detail = `${what} answered ${response.status}${error.code ? ` ${error.code}` : ''}${error.message ? `: ${error.message}` : ''}`;
    const status = response.status;
    if (status >= 500 || status === 408 || status === 429) {
      const retryAfterMs = retryAfter(response.headers['retry-after']);
      return { ok: false, failure: { kind: 'transient', message: `fusion ${detail}`, ...(retryAfterMs ? { retryAfterMs } : {}) } };
    }
    if (status === 404) return { ok: false, failure: { kind: 'not_found', message: `fusion ${detail}`, ...(error.code ? { code: error.code } : {}) } };
    if (status === 413) return { ok: false, failure: { kind: 'too_large', message: `fusion ${detail}` } };
    return { ok: false, failure: { kind: 'refused', message: `fusion refused: ${detail}`, status, ...(error.code ? { code: error.code } : {}) } };
  }
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `{ error: { code, message } }` per the house error format, when present. */
function errorBody(body: unknown): { code?: string; message?: string } {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (!error || typeof error !== 'object') return {};
  return {
    ...(typeof error.code === 'string' ? { code: error.code } : {}),
    ...(typeof error.message === 'string' ? { message: error.message.slice(0, 500) } : {}),
  };
}

/** Retry-After in seconds (the HTTP-date form is rare from an API and is ignored), capped at 5 minutes. */
function retryAfter(header: string | undefined): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, 300) * 1000 : undefined;
}

/** What went wrong below HTTP; a failed TLS handshake says so, since only the agent's TLS options can fix it. */
function networkReason(err: unknown): string {
  if (!(err instanceof HttpRequestError)) return (err as Error).message;
  if (err.code === 'timeout') return 'request timed out';
  const cause = err.cause as { code?: unknown; message?: unknown } | undefined;
  if (isTlsFailure(cause)) return `TLS handshake failed (${String(cause!.code)}: ${String(cause!.message)}); check the agent's ca, cert and key options`;
  return typeof cause?.code === 'string' ? cause.code : err.message;
}
