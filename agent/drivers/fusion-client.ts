/**
 * One HTTP exchange with a Fusion receiver, classified for the sender's retry
 * logic. The API key travels in `X-API-Key` and never appears in a message.
 */

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

  constructor(
    baseUrl: string,
    private readonly apiKey: string,
    private readonly requestTimeoutMs: number,
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
  }

  /**
   * Sends one request. Resolves with the parsed answer or a classified
   * failure; rejects only when `signal` aborts (with the signal's reason).
   */
  async request(method: 'POST' | 'DELETE', path: string, body: unknown, signal: AbortSignal): Promise<FusionResult> {
    const what = `${method} ${path}`;
    let response: Response;
    let text: string;
    try {
      response = await fetch(this.base + path, {
        method,
        headers: {
          'x-api-key': this.apiKey,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.requestTimeoutMs)]),
      });
      text = await response.text();
    } catch (err) {
      signal.throwIfAborted();
      return { ok: false, failure: { kind: 'transient', message: `fusion unreachable (${what}): ${networkReason(err)}` } };
    }
    const parsed = parseJson(text);
    if (response.status >= 200 && response.status < 300) return { ok: true, status: response.status, body: parsed };

    const error = errorBody(parsed);
    const detail = `${what} answered ${response.status}${error.code ? ` ${error.code}` : ''}${error.message ? `: ${error.message}` : ''}`;
    const status = response.status;
    if (status >= 500 || status === 408 || status === 429) {
      const retryAfterMs = retryAfter(response.headers.get('retry-after'));
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
function retryAfter(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, 300) * 1000 : undefined;
}

function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return cause.code;
  if ((err as Error).name === 'TimeoutError') return 'request timed out';
  return cause?.message ?? (err as Error).message;
}
