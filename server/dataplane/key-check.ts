import type { Request, Response } from 'express';
import { API_KEY_HEADER, type KeyRing } from './api-keys.js';
import type { DataPlaneContext } from './context.js';
import { DataPlaneErrorCode, HttpError } from './http-errors.js';

/**
 * Checks the request's X-API-Key against `keys` behind the failed-attempt
 * limiter: a key (or an address) that failed too often gets 429 with
 * Retry-After before it is compared, and every unknown key counts.
 * Returns the grant, or throws 401 / 429.
 */
export function checkApiKey<T>(ctx: DataPlaneContext, req: Request, res: Response, keys: KeyRing<T>, what: string): T {
  const key = req.get(API_KEY_HEADER);
  const wait = ctx.keyAttempts?.retryAfter(req, key) ?? 0;
  if (wait > 0) {
    res.setHeader('Retry-After', String(wait));
    throw new HttpError(429, DataPlaneErrorCode.RateLimited, `too many unknown API keys; retry in ${wait} s`);
  }
  if (!key) throw new HttpError(401, DataPlaneErrorCode.Unauthorized, `missing ${API_KEY_HEADER}`);
  const grant = keys.match(key);
  if (grant === undefined) {
    ctx.keyAttempts?.failed(req, key);
    throw new HttpError(401, DataPlaneErrorCode.Unauthorized, `unknown ${API_KEY_HEADER}${what}`);
  }
  return grant;
}
