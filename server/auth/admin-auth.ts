import type { Request, RequestHandler } from 'express';
import { HttpError } from '../http/errors.js';
import { Authenticator } from './authenticator.js';
import type { AdminRole, TokenRecord, TokenStore } from './token-store.js';

const ROLE_RANK: Record<AdminRole, number> = { viewer: 1, operator: 2, admin: 3 };

/** The admin token a request was authenticated with (set by requireAdmin). */
export function adminOf(req: Request): TokenRecord {
  const token = (req as Request & { admin?: TokenRecord }).admin;
  if (!token) throw new HttpError(401, 'unauthorized', 'missing admin token');
  return token;
}

/** The admin token, if the request was authenticated (for the audit log). */
export function maybeAdminOf(req: Request): TokenRecord | undefined {
  return (req as Request & { admin?: TokenRecord }).admin;
}

export function roleAtLeast(role: AdminRole | null, needed: AdminRole): boolean {
  return ROLE_RANK[role ?? 'viewer'] >= ROLE_RANK[needed];
}

/**
 * Bearer admin-token authentication with a minimum role: 401 for a missing
 * or unknown token, 403 when its role is too low, 429 (Retry-After) for an
 * address that failed too often.
 */
export function requireAdmin(tokens: TokenStore, role: AdminRole = 'viewer'): RequestHandler {
  const auth = Authenticator.for(tokens);
  return async (req, res, next) => {
    const result = await auth.admin(req);
    if (!result.ok) {
      if (result.retryAfterSeconds) res.setHeader('Retry-After', String(result.retryAfterSeconds));
      return next(new HttpError(result.status, result.code, result.message));
    }
    (req as Request & { admin?: TokenRecord }).admin = result.token;
    if (!roleAtLeast(result.token.role as AdminRole | null, role)) {
      return next(new HttpError(403, 'forbidden', `this action needs the ${role} role; the token has ${result.token.role ?? 'viewer'}`));
    }
    next();
  };
}
