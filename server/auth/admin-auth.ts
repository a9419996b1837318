import type { Request, RequestHandler } from 'express';
import { HttpError } from '../http/errors.js';
import { bearerToken } from './secrets.js';
import type { AdminRole, TokenRecord, TokenStore } from './token-store.js';

const ROLE_RANK: Record<AdminRole, number> = { viewer: 1, operator: 2, admin: 3 };

/** The admin token a request was authenticated with (set by requireAdmin). */
export function adminOf(req: Request): TokenRecord {
  const token = (req as Request & { admin?: TokenRecord }).admin;
  if (!token) throw new HttpError(401, 'unauthorized', 'missing admin token');
  return token;
}

/**
 * Bearer admin-token authentication with a minimum role: 401 for a missing
 * or unknown token, 403 when its role is too low.
 */
export function requireAdmin(tokens: TokenStore, role: AdminRole = 'viewer'): RequestHandler {
  return (req, _res, next) => {
    const secret = bearerToken(req.headers.authorization);
    if (!secret) return next(new HttpError(401, 'unauthorized', 'missing admin token: send Authorization: Bearer <token>'));
    const token = tokens.verify('admin', secret);
    if (!token) return next(new HttpError(401, 'unauthorized', 'unknown, expired or revoked admin token'));
    if (ROLE_RANK[(token.role ?? 'viewer') as AdminRole] < ROLE_RANK[role]) {
      return next(new HttpError(403, 'forbidden', `this action needs the ${role} role; the token has ${token.role ?? 'viewer'}`));
    }
    (req as Request & { admin?: TokenRecord }).admin = token;
    next();
  };
}
