/**
 * The management API as the dashboard uses it. The admin token lives in
 * sessionStorage (this tab only, gone when it closes) and is sent as a
 * Bearer header; the event stream, which cannot send headers, gets it in
 * its URL (see live.js).
 */
const TOKEN_KEY = 'fustor.adminToken';

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

/** An error answer of the API: status, stable code, message and details (e.g. validation issues). */
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

const listeners = new Set();
/** Called with every 401, so the app can ask for a token again. */
export function onUnauthorized(listener) {
  listeners.add(listener);
}

/**
 * fetch against Fusion. Resolves with `{ status, headers, body }` (body parsed
 * when JSON, else text); rejects with ApiError for 4xx/5xx and for a network failure.
 */
export async function api(path, { method = 'GET', body, type, accept = 'application/json', headers = {}, token = session.token } = {}) {
  const init = { method, headers: { accept, ...headers } };
  if (token) init.headers.authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers['content-type'] = type ?? (typeof body === 'string' ? 'application/yaml' : 'application/json');
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, 'unreachable', `Fusion is not reachable (${err.message})`);
  }
  const text = await res.text();
  const isJson = (res.headers.get('content-type') ?? '').includes('json');
  let parsed = text;
  if (isJson && text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  if (res.status >= 400) {
    const error = parsed?.error;
    const err = new ApiError(res.status, error?.code ?? `http_${res.status}`, error?.message ?? `HTTP ${res.status}`, error?.details);
    // Only a 401 for the token in use means "sign in again"; a token being tried at sign-in is not it.
    if (res.status === 401 && token && token === session.token) for (const l of listeners) l(err);
    throw err;
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** GET a JSON body. */
export async function getJson(path) {
  return (await api(path)).body;
}

/** ETag without quotes. */
export function etagOf(headers) {
  return (headers.get('etag') ?? '').replace(/^W\//, '').replace(/^"(.*)"$/, '$1') || null;
}
