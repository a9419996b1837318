import type { Request, Response } from 'express';
import { Authenticator } from '../auth/authenticator.js';
import type { TokenRecord, TokenStore } from '../auth/token-store.js';
import { HttpError } from './errors.js';

/** An agent request that passed authentication: the token it presented and its kind. */
export interface AuthenticatedAgent {
  token: TokenRecord;
  kind: 'enrollment' | 'agent';
}

/**
 * Checks an agent's HTTP request (pull, status report) with the same rules as
 * the WebSocket upgrade: its own credential (only for its agent id, else 403)
 * or an enrollment token; 401 for anything else; 429 with `Retry-After` for an
 * address that failed too often. Throws the refusal as an {@link HttpError}.
 */
export function authenticateAgent(tokens: TokenStore, req: Request, res: Response, agentId: string): AuthenticatedAgent {
  const auth = Authenticator.for(tokens).agent(req, agentId);
  if (auth.ok) return { token: auth.token, kind: auth.kind };
  if (auth.retryAfterSeconds) res.setHeader('Retry-After', String(auth.retryAfterSeconds));
  throw new HttpError(auth.status, auth.code, auth.message);
}

/** The group an enrollment token puts its agents in, if it names one (an agent's own credential names none). */
export function tokenGroup(auth: AuthenticatedAgent): string | null {
  return auth.kind === 'enrollment' ? auth.token.group_name : null;
}
