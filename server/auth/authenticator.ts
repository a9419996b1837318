import type { IncomingMessage } from 'node:http';
import { ErrorCode } from '../../shared/protocol/index.js';
import type { TokenRecord, TokenStore } from './token-store.js';
import { bearerToken } from './secrets.js';
import type { CredentialRefusal } from './agent-credentials.js';
import { ClientAddress } from './client-address.js';
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

export interface AuthenticatorOptions {
  limits?: FailedAuthLimits | undefined;
  /** Proxies whose X-Forwarded-For is believed (addresses or CIDR ranges), see ClientAddress. */
  trustedProxies?: readonly string[] | undefined;
}

/**
 * The one place secrets are checked, for admins and agents alike, with the
 * failed-attempt limiter in front: a secret (or an address) that failed too
 * often is refused before the token is even looked at.
 */
export class Authenticator {
  /** The authenticator of a token store (one limiter per Fusion), created with `options` on first use. */
  static for(tokens: TokenStore, options: AuthenticatorOptions = {}): Authenticator {
    let auth = byStore.get(tokens);
    if (!auth) {
      auth = new Authenticator(tokens, new FailedAuthLimiter(options.limits), new ClientAddress(options.trustedProxies));
      byStore.set(tokens, auth);
    }
    return auth;
  }

  constructor(
    readonly tokens: TokenStore,
    readonly limiter: FailedAuthLimiter,
    readonly addresses: ClientAddress,
  ) {}

  /** The client address of a request (X-Forwarded-For only from trusted proxies). */
  addressOf(req: IncomingMessage): string {
    return this.addresses.of(req);
  }

  /**
   * The limiter as the data plane uses it for X-API-Key: unknown keys count
   * against the same address budget as failed tokens.
   */
  readonly keyAttempts = {
    retryAfter: (req: IncomingMessage, key: string | undefined): number => this.limiter.retryAfter(this.addressOf(req), key),
    failed: (req: IncomingMessage, key: string | undefined): void => this.limiter.fail(this.addressOf(req), key),
  };

  async admin(req: IncomingMessage): Promise<AdminAuth> {
    const address = this.addressOf(req);
    const secret = bearerToken(req.headers.authorization);
    const limited = this.limited(address, secret);
    if (limited) return limited;
    if (!secret) return { ok: false, status: 401, code: 'unauthorized', message: 'missing admin token: send Authorization: Bearer <token>' };
    const token = await this.tokens.verify('admin', secret);
    if (!token) {
      this.limiter.fail(address, secret);
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
  async agent(req: IncomingMessage, agentId: string): Promise<AgentAuth> {
    const address = this.addressOf(req);
    const secret = bearerToken(req.headers.authorization);
    const limited = this.limited(address, secret);
    if (limited) return limited;
    if (!secret) return { ok: false, status: 401, code: 'unauthorized', message: 'missing Authorization: Bearer <token>' };
    if (secret.startsWith('fagt_')) {
      const checked = await this.tokens.credentials.check(secret, agentId);
      if (!checked.ok) {
        this.limiter.fail(address, secret);
        return { ok: false, ...CREDENTIAL_REFUSALS[checked.reason] };
      }
      await this.tokens.credentials.retireOlder(agentId, checked.credential.id);
      return { ok: true, token: checked.credential, kind: 'agent' };
    }
    const enrollment = await this.tokens.verify('enrollment', secret);
    if (!enrollment) {
      this.limiter.fail(address, secret);
      return { ok: false, status: 401, code: 'unauthorized', message: 'unknown, expired or revoked token' };
    }
    return { ok: true, token: enrollment, kind: 'enrollment' };
  }

  /**
   * An enrolled agent's own credential, the only token that reads a config,
   * reports, or downloads for an agent id: an enrollment token is refused
   * with 403 `credential_required` (enrol first).
   */
  async credential(req: IncomingMessage, agentId: string): Promise<AgentAuth> {
    const auth = await this.agent(req, agentId);
    if (!auth.ok || auth.kind === 'agent') return auth;
    this.limiter.fail(this.addressOf(req), bearerToken(req.headers.authorization));
    return {
      ok: false,
      status: 403,
      code: 'credential_required',
      message: 'an enrollment token only enrols: present the agent credential (enrol first at POST /api/v1/control/enroll)',
    };
  }

  private limited(address: string, secret: string | undefined): AuthRefusal & { ok: false } | undefined {
    const wait = this.limiter.retryAfter(address, secret);
    if (wait === 0) return undefined;
    return { ok: false, status: 429, code: 'rate_limited', message: `too many failed authentications; retry in ${wait} s`, retryAfterSeconds: wait };
  }
}

/** The answer to a refused credential: status, code and what the agent should do. */
export const CREDENTIAL_REFUSALS: Readonly<Record<CredentialRefusal, AuthRefusal>> = {
  unknown: { status: 401, code: ErrorCode.CredentialUnknown, message: 'Fusion does not know this credential; enrol again with the enrollment token' },
  expired: { status: 401, code: ErrorCode.CredentialExpired, message: 'this credential expired or was released; enrol again with the enrollment token' },
  revoked: { status: 401, code: ErrorCode.Revoked, message: 'this credential was revoked; the agent needs a new enrollment token' },
  other_agent: { status: 403, code: 'forbidden', message: 'this credential belongs to another agent' },
};
