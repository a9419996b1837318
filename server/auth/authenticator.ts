import type { IncomingMessage } from 'node:http';
import type { TokenRecord, TokenStore } from './token-store.js';
import { bearerToken } from './secrets.js';
import { ClientAddress } from './client-address.js';
import { FailedAuthLimiter, type FailedAuthLimits } from './failed-auth-limiter.js';

const byStore = new WeakMap<TokenStore, Authenticator>();

/** Why an agent request was refused; `status` is the HTTP status to answer with. */
export interface AuthRefusal {
  status: 401 | 403 | 429;
  code: 'unauthorized' | 'forbidden' | 'rate_limited';
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

  admin(req: IncomingMessage): AdminAuth {
    const address = this.addressOf(req);
    const secret = bearerToken(req.headers.authorization);
    const limited = this.limited(address, secret);
    if (limited) return limited;
    if (!secret) return { ok: false, status: 401, code: 'unauthorized', message: 'missing admin token: send Authorization: Bearer <token>' };
    const token = this.tokens.verify('admin', secret);
    if (!token) {
      this.limiter.fail(address, secret);
      return { ok: false, status: 401, code: 'unauthorized', message: 'unknown, expired or revoked admin token' };
    }
    return { ok: true, token };
  }

  /**
   * An agent's Bearer token: its own credential (valid only for its agent id)
   * or an enrollment token (valid for any id; the agent then gets a credential).
   */
  agent(req: IncomingMessage, agentId: string): AgentAuth {
    const address = this.addressOf(req);
    const secret = bearerToken(req.headers.authorization);
    const limited = this.limited(address, secret);
    if (limited) return limited;
    if (!secret) return { ok: false, status: 401, code: 'unauthorized', message: 'missing Authorization: Bearer <token>' };
    const credential = this.tokens.verify('agent', secret);
    if (credential) {
      if (credential.agent_id !== agentId) {
        this.limiter.fail(address, secret);
        return { ok: false, status: 403, code: 'forbidden', message: 'this credential belongs to another agent' };
      }
      return { ok: true, token: credential, kind: 'agent' };
    }
    const enrollment = this.tokens.verify('enrollment', secret);
    if (!enrollment) {
      this.limiter.fail(address, secret);
      return { ok: false, status: 401, code: 'unauthorized', message: 'unknown, expired or revoked token' };
    }
    return { ok: true, token: enrollment, kind: 'enrollment' };
  }

  private limited(address: string, secret: string | undefined): AuthRefusal & { ok: false } | undefined {
    const wait = this.limiter.retryAfter(address, secret);
    if (wait === 0) return undefined;
    return { ok: false, status: 429, code: 'rate_limited', message: `too many failed authentications; retry in ${wait} s`, retryAfterSeconds: wait };
  }
}
