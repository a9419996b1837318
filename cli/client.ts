import { CliError } from './errors.js';

/** Where Fusion is and how to authenticate, from FUSION_URL and FUSION_TOKEN. */
export interface ClientSettings {
  url: string;
  token: string;
}

export const DEFAULT_FUSION_URL = 'http://127.0.0.1:8102';

/** Reads the settings; a missing token or a malformed URL is a clear error, not a failed request. */
export function clientSettings(env: Record<string, string | undefined>, urlFlag?: string): ClientSettings {
  const raw = urlFlag ?? env.FUSION_URL ?? DEFAULT_FUSION_URL;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CliError(`FUSION_URL is not a URL: "${raw}"`, 2, 'usage');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError(`FUSION_URL must be http:// or https://, got "${raw}"`, 2, 'usage');
  const token = env.FUSION_TOKEN;
  if (!token) throw new CliError('FUSION_TOKEN is not set: export FUSION_TOKEN=<admin token>', 2, 'usage');
  return { url: url.toString().replace(/\/+$/, ''), token };
}

export interface RequestOptions {
  method?: string;
  body?: string | Uint8Array;
  contentType?: string;
  accept?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** An answer of Fusion that was not an error. */
export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
}

/**
 * The HTTP client of the public API. Every non-2xx answer becomes a CliError
 * carrying Fusion's error code and message (and one line per detail), so a
 * command never prints half a result.
 */
export class FusionClient {
  constructor(readonly settings: ClientSettings) {}

  async request(path: string, options: RequestOptions = {}): Promise<ApiResponse> {
    const res = await this.fetch(path, options);
    const text = await res.text();
    if (res.status >= 400) throw apiError(res.status, text);
    return { status: res.status, headers: res.headers, text };
  }

  async json<T = any>(path: string, options: RequestOptions = {}): Promise<T> {
    const res = await this.request(path, { accept: 'application/json', ...options });
    try {
      return JSON.parse(res.text) as T;
    } catch {
      throw new CliError(`Fusion answered ${path} with something that is not JSON`);
    }
  }

  /** The raw response, for streams; errors are still turned into CliError. */
  async stream(path: string, options: RequestOptions = {}): Promise<Response> {
    const res = await this.fetch(path, options);
    if (res.status >= 400) throw apiError(res.status, await res.text());
    return res;
  }

  private async fetch(path: string, options: RequestOptions): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.settings.token}`, ...options.headers };
    if (options.accept) headers.accept = options.accept;
    if (options.contentType) headers['content-type'] = options.contentType;
    try {
      return await fetch(`${this.settings.url}${path}`, {
        method: options.method ?? 'GET',
        headers,
        ...(options.body !== undefined ? { body: options.body } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(`cannot reach Fusion at ${this.settings.url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`, 1, 'unreachable');
    }
  }
}

function apiError(status: number, text: string): CliError {
  let body: { error?: { code?: string; message?: string; details?: unknown } } | undefined;
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    body = undefined;
  }
  const error = body?.error;
  if (!error?.message) return new CliError(`Fusion answered HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ''}`, 1, `http_${status}`);
  return new CliError(error.message, 1, error.code ?? `http_${status}`, detailLines(error.details));
}

/** Validation issues (`[{ path, message }]`) one per line; other details as JSON. */
function detailLines(details: unknown): string[] {
  if (details === undefined || details === null) return [];
  if (Array.isArray(details)) {
    return details.map((d) => {
      const issue = d as { path?: unknown; message?: unknown };
      return typeof issue?.message === 'string' ? `${typeof issue.path === 'string' ? `${issue.path}: ` : ''}${issue.message}` : JSON.stringify(d);
    });
  }
  return Object.entries(details as Record<string, unknown>).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
}
