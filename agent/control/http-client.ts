/**
 * A small HTTP(S) GET for the agent's requests to the control plane. Node's
 * global fetch cannot take a CA or a client certificate, so this goes through
 * node:http / node:https with the agent's TLS material. One connection per
 * request (no keep-alive pool): requests are rare and nothing lingers after.
 */
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { TlsMaterial } from './tls-files.js';

/** Default limit of a response body, in bytes. */
export const DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024;

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
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (error: HttpRequestError | null, response?: HttpResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (error) {
        request.destroy();
        reject(error);
      } else resolve(response as HttpResponse);
    };
    const tls = target.protocol === 'https:' ? (options.tls ?? {}) : {};
    const request = (target.protocol === 'https:' ? https : http).request(
      target,
      { method: 'GET', headers: options.headers, agent: false, ...tls },
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
    request.end();
  });
}
