import type { Request, Response } from 'express';
import { Authenticator } from '../auth/authenticator.js';
import type { TokenRecord, TokenStore } from '../auth/token-store.js';
import { HttpError } from './errors.js';
import { CREDENTIAL_ROTATE_HEADER } from '../../shared/protocol/index.js';

/** An agent request that passed authentication: the token it presented and its kind. */
export interface AuthenticatedAgent {
  token: TokenRecord;
  kind: 'enrollment' | 'agent';
}

/**
 * Checks an agent's HTTP request (pull, status report, package download):
 * only its own credential opens it (403 for another agent's, 403
 * `credential_required` for an enrollment token, 401 with a code saying
 * whether the credential is unknown, expired or revoked); 429 with
 * `Retry-After` for an address that failed too often. Throws the refusal as
 * an {@link HttpError}. A credential due for rotation is flagged in the
 * answer's {@link CREDENTIAL_ROTATE_HEADER}.
 */
export async function authenticateAgent(tokens: TokenStore, req: Request, res: Response, agentId: string): Promise<AuthenticatedAgent> {
  const auth = await Authenticator.for(tokens).credential(req, agentId);
  if (auth.ok) {
    if (tokens.credentials.dueForRotation(auth.token)) res.setHeader(CREDENTIAL_ROTATE_HEADER, 'rotate');
    return { token: auth.token, kind: auth.kind };
  }
  if (auth.retryAfterSeconds) res.setHeader('Retry-After', String(auth.retryAfterSeconds));
  throw new HttpError(auth.status, auth.code, auth.message);
}

/** The group of the enrollment token the agent enrolled with, if it names one. */
export async function tokenGroup(tokens: TokenStore, auth: AuthenticatedAgent): Promise<string | null> {
  return tokens.enrollmentGroup(auth.token);
}
