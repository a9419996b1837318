import type { TokenRecord, TokenStore } from './token-store.js';
import { ErrorCode } from '../../shared/protocol/index.js';
import { bearerToken } from './secrets.js';
import type { CredentialRefusal } from './agent-credentials.js';
import { FailedAuthLimiter, type FailedAuthLimits } from './failed-auth-limiter.js';

const byStore = new WeakMap<TokenStore, Authenticator>();

/** Why an agent request was refused; `status` is the HTTP status to answer with. */
export interface AuthRefusal {
  status: 401 | 403 | 409 | 429;
  code: 'unauthorized' | 'forbidden' | 'rate_limited' | 'credential_required' | ErrorCode;
  message: string;
  retryAfterSeconds?: number;
}

export type AgentAuth = { ok: true; token: TokenRecord; kind: 'enrollment' | 'agent' } | ({ ok: false } & AuthRefusal);
export type AdminAuth = { ok: true; token: TokenRecord } | ({ ok: false } & AuthRefusal);

/**
 * The one place secrets are checked, for admins and agents alike, with the
 * failed-attempt limiter in front: an address that failed too often is
 * refused before its token is even looked at.
 */
export class Authenticator {
  /** The authenticator of a token store (one limiter per Fusion), created with `limits` on first use. */
  static for(tokens: TokenStore, limits?: FailedAuthLimits): Authenticator {
    let auth = byStore.get(tokens);
    if (!auth) {
      auth = new Authenticator(tokens, new FailedAuthLimiter(limits));
      byStore.set(tokens, auth);
    }
    return auth;
  }

  constructor(
    readonly tokens: TokenStore,
    readonly limiter: FailedAuthLimiter,
  ) {}

  admin(authorization: string | undefined, address: string): AdminAuth {
    const limited = this.limited(address);
    if (limited) return limited;
    const secret = bearerToken(authorization);
    if (!secret) return { ok: false, status: 401, code: 'unauthorized', message: 'missing admin token: send Authorization: Bearer <token>' };
    const token = this.tokens.verify('admin', secret);
    if (!token) {
      this.limiter.fail(address);
      return { ok: false, status: 401, code: 'unauthorized', message: 'unknown, expired or revoked admin token' };
    }
    return { ok: true, token };
  }

  /**
   * An agent's Bearer token: its own credential (valid only for its agent id;
   * refused with a code that says whether it is unknown, expired or revoked)
   * or an enrollment token, which the caller may only use to enrol an id
   * (see {@link Enrollment}). A credential used here retires the older ones
   * of its agent (rotation), after their grace period.
   */
  agent(authorization: string | undefined, agentId: string, address: string): AgentAuth {
    const limited = this.limited(address);
    if (limited) return limited;
    const secret = bearerToken(authorization);
    if (!secret) return { ok: false, status: 401, code: 'unauthorized', message: 'missing Authorization: Bearer <token>' };
    if (secret.startsWith('fagt_')) {
      const checked = this.tokens.credentials.check(secret, agentId);
      if (!checked.ok) {
        this.limiter.fail(address);
        return { ok: false, ...CREDENTIAL_REFUSALS[checked.reason] };
      }
      this.tokens.credentials.retireOlder(agentId, checked.credential.id);
      return { ok: true, token: checked.credential, kind: 'agent' };
    }
    const enrollment = this.tokens.verify('enrollment', secret);
    if (!enrollment) {
      this.limiter.fail(address);
      return { ok: false, status: 401, code: 'unauthorized', message: 'unknown, expired or revoked token' };
    }
    return { ok: true, token: enrollment, kind: 'enrollment' };
  }

  /**
   * An enrolled agent's own credential, the only token that reads a config,
   * reports, or downloads for an agent id: an enrollment token is refused
   * with 403 `credential_required` (enrol first).
   */
  credential(authorization: string | undefined, agentId: string, address: string): AgentAuth {
    const auth = this.agent(authorization, agentId, address);
    if (!auth.ok || auth.kind === 'agent') return auth;
    this.limiter.fail(address);
    return {
      ok: false,
      status: 403,
      code: 'credential_required',
      message: 'an enrollment token only enrols: present the agent credential (enrol first at POST /api/v1/control/enroll)',
    };
  }

  private limited(address: string): AuthRefusal & { ok: false } | undefined {
    const wait = this.limiter.retryAfter(address);
    if (wait === 0) return undefined;
    return { ok: false, status: 429, code: 'rate_limited', message: `too many failed authentications; retry in ${wait} s`, retryAfterSeconds: wait };
  }
}

const CREDENTIAL_REFUSALS: Record<CredentialRefusal, AuthRefusal> = {
  unknown: { status: 401, code: ErrorCode.CredentialUnknown, message: 'Fusion does not know this credential; enrol again with the enrollment token' },
  expired: { status: 401, code: ErrorCode.CredentialExpired, message: 'this credential expired or was released; enrol again with the enrollment token' },
  revoked: { status: 401, code: ErrorCode.Revoked, message: 'this credential was revoked; the agent needs a new enrollment token' },
  other_agent: { status: 403, code: 'forbidden', message: 'this credential belongs to another agent' },
};
