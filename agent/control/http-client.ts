/**
 * A small HTTP(S) client for the agent's requests to Fusion. Node's global
 * fetch cannot take a CA or a client certificate, so this goes through
 * node:http / node:https with the agent's TLS material. A request opens its
 * own connection unless the caller passes a keep-alive agent (see
 * {@link keepAliveAgent}): control-plane GETs are rare and leave nothing
 * behind; a data-plane sender sends many batches over a few connections.
 */
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { TlsMaterial } from './tls-files.js';

/** Default limit of a response body, in bytes. */
export const DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024;

/** An idle pooled connection is closed after this long (sooner when the server announces a shorter keep-alive timeout). */
const IDLE_SOCKET_TIMEOUT_MS = 15_000;

export interface HttpGetOptions {
  headers?: Record<string, string>;
  /** The whole exchange (connect, TLS, headers, body) must finish within this, in ms. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** CA and client certificate for https URLs. */
  tls?: TlsMaterial;
  /** A longer body fails the request with `body_too_large`. */
  maxBodyBytes?: number;
}

export interface HttpRequestOptions extends HttpGetOptions {
  /** Default `GET`. */
  method?: string;
  /** Sent as is, with its `content-length`; the caller sets `content-type`. */
  body?: string | Buffer;
  /** Connection pool to send through (from {@link keepAliveAgent}, for the URL's protocol); default: a connection of its own. */
  agent?: http.Agent;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Why a request got no complete answer. `network` covers refused connections and failed TLS handshakes (see `cause`). */
export type HttpRequestErrorCode = 'timeout' | 'aborted' | 'body_too_large' | 'network' | 'bad_url';

export class HttpRequestError extends Error {
  constructor(
    readonly code: HttpRequestErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HttpRequestError';
  }
}

/** GETs `url`. Resolves with any HTTP status; rejects only with an {@link HttpRequestError}. */
export function httpGet(url: string, options: HttpGetOptions): Promise<HttpResponse> {
  return httpRequest(url, { ...options, method: 'GET' });
}

/**
 * A keep-alive connection pool for `protocol` (`http:` or `https:`), holding
 * the TLS material for https. Idle connections do not keep the process alive;
 * `destroy()` it when done.
 */
export function keepAliveAgent(protocol: string, tls?: TlsMaterial): http.Agent {
  const options = { keepAlive: true, timeout: IDLE_SOCKET_TIMEOUT_MS };
  return protocol === 'https:' ? new https.Agent({ ...options, ...tls }) : new http.Agent(options);
}

/** Sends one request to `url`. Resolves with any HTTP status; rejects only with an {@link HttpRequestError}. */
export function httpRequest(url: string, options: HttpRequestOptions): Promise<HttpResponse> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return Promise.reject(new HttpRequestError('bad_url', `not a URL: ${url}`));
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    return Promise.reject(new HttpRequestError('bad_url', `expected an http:// or https:// URL, got ${target.protocol}`));
  }
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const headers = { ...options.headers, ...(options.body !== undefined && { 'content-length': String(Buffer.byteLength(options.body)) }) };
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (error: HttpRequestError | null, response?: HttpResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (error) {
        // Also drops the connection, so a half-read one never goes back to a pool.
        request.destroy();
        reject(error);
      } else resolve(response as HttpResponse);
    };
    const tls = target.protocol === 'https:' ? (options.tls ?? {}) : {};
    const request = (target.protocol === 'https:' ? https : http).request(
      target,
      { method: options.method ?? 'GET', headers, agent: options.agent ?? false, ...tls },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBodyBytes) settle(new HttpRequestError('body_too_large', `response body exceeds ${maxBodyBytes} bytes`));
          else chunks.push(chunk);
        });
        response.on('end', () => settle(null, { status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
        response.on('error', (err) => settle(new HttpRequestError('network', `response failed: ${err.message}`, { cause: err })));
        response.on('close', () => {
          if (!response.complete) settle(new HttpRequestError('network', 'connection closed before the response ended'));
        });
      },
    );
    request.on('error', (err) => settle(new HttpRequestError('network', err.message, { cause: err })));
    const timer = setTimeout(() => settle(new HttpRequestError('timeout', `no complete answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    const onAbort = (): void => settle(new HttpRequestError('aborted', 'request aborted'));
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
    if (!settled) request.end(options.body);
  });
}
