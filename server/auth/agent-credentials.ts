import { nanoid } from 'nanoid';
import type { Db } from '../store/database.js';
import { generateSecret, secretMatches } from './secrets.js';
import type { TokenRecord, TokenStore } from './token-store.js';

/** How long credentials live and when they are replaced. */
export interface CredentialPolicy {
  /** Lifetime of a new credential. Default 30 days. */
  lifetimeMs: number;
  /** A credential with less than this left is rotated at the agent's next contact. Default a third of the lifetime. */
  rotateBeforeMs: number;
  /** How long a rotated-out credential stays valid once the agent has the new one. Default 10 minutes. */
  graceMs: number;
}

const DAY = 24 * 3600_000;

export function credentialPolicy(given: Partial<CredentialPolicy> = {}): CredentialPolicy {
  const lifetimeMs = given.lifetimeMs ?? 30 * DAY;
  return { lifetimeMs, rotateBeforeMs: given.rotateBeforeMs ?? Math.floor(lifetimeMs / 3), graceMs: given.graceMs ?? 10 * 60_000 };
}

/**
 * Why a presented credential is refused. `unknown` (no such credential: a
 * Fusion restored from a backup, or a forged one) and `expired` (its lifetime
 * ran out, or an admin released the agent) let the agent enrol again;
 * `revoked` does not.
 */
export type CredentialRefusal = 'unknown' | 'expired' | 'revoked' | 'other_agent';

export type CredentialCheck = { ok: true; credential: TokenRecord } | { ok: false; reason: CredentialRefusal };

/** A credential just issued: the secret leaves Fusion once, in `welcome`, an enroll answer or a `credential` frame. */
export interface IssuedCredential {
  secret: string;
  id: string;
  expiresAt: number;
}

/**
 * Per-agent credentials (token rows of kind `agent`): issued bound to one
 * agent id, with a lifetime; rotated by issuing a new one and shortening the
 * old one's life to a grace period once the agent uses or acknowledges the
 * new one; released (expired at once) or revoked by an admin.
 */
export class AgentCredentials {
  constructor(
    private readonly db: Db,
    private readonly tokens: TokenStore,
    readonly policy: CredentialPolicy,
  ) {}

  /** Checks a presented secret for `agentId`; the secret is compared in constant time. */
  check(secret: string, agentId: string, now = Date.now()): CredentialCheck {
    const row = this.tokens.row(credentialId(secret));
    if (!row || row.kind !== 'agent' || !secretMatches(secret, row.hash)) return { ok: false, reason: 'unknown' };
    if (row.revoked_at !== null) return { ok: false, reason: 'revoked' };
    if (row.expires_at !== null && row.expires_at <= now) return { ok: false, reason: 'expired' };
    if (row.agent_id !== agentId) return { ok: false, reason: 'other_agent' };
    const { hash: _hash, ...credential } = row;
    return { ok: true, credential };
  }

  /** Whether the agent id holds a credential that is neither revoked nor expired. */
  hasLive(agentId: string, now = Date.now()): boolean {
    return this.live(agentId, now).length > 0;
  }

  /** The agent's live credentials, newest first. */
  live(agentId: string, now = Date.now()): TokenRecord[] {
    return this.db
      .prepare(
        `SELECT id, kind, name, role, agent_id, created_at, expires_at, max_uses, uses, revoked_at, group_name, enrollment_token_id, requires_approval, rotate_requested_at
         FROM tokens WHERE kind = 'agent' AND agent_id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
         ORDER BY created_at DESC, rowid DESC`,
      )
      .all(agentId, now) as TokenRecord[];
  }

  /** Issues a credential for `agentId`. Run it inside the caller's transaction. */
  issue(agentId: string, enrollmentTokenId: string | null, now = Date.now()): IssuedCredential {
    const id = nanoid(12);
    const secret = `fagt_${id}_${generateSecret('x').slice(2)}`;
    const expiresAt = now + this.policy.lifetimeMs;
    this.tokens.create({ kind: 'agent', name: `agent:${agentId}`, agentId, secret, id, expiresAt, enrollmentTokenId });
    return { secret, id, expiresAt };
  }

  /**
   * Issues the successor of the credential `currentId` (same agent, same
   * enrollment token), committed before it returns. The current one stays
   * valid until the agent uses or acknowledges the new one ({@link retireOlder}).
   */
  rotate(current: TokenRecord): IssuedCredential {
    return this.db.transaction(() => {
      this.db.prepare('UPDATE tokens SET rotate_requested_at = NULL WHERE id = ?').run(current.id);
      return this.issue(current.agent_id!, current.enrollment_token_id);
    })();
  }

  /** Whether a credential should be replaced now: close to its expiry, without one, or an admin asked. */
  dueForRotation(credential: Pick<TokenRecord, 'expires_at' | 'rotate_requested_at'>, now = Date.now()): boolean {
    return credential.rotate_requested_at !== null || credential.expires_at === null || credential.expires_at - now <= this.policy.rotateBeforeMs;
  }

  /**
   * The agent holds `currentId` now: every live credential of it issued
   * before that one ends after the grace period. Checked on every
   * authenticated request, so the usual case (nothing to retire) is one
   * indexed read and no write.
   */
  retireOlder(agentId: string, currentId: string, now = Date.now()): number {
    const until = now + this.policy.graceMs;
    const older = `kind = 'agent' AND agent_id = ? AND id != ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
      AND rowid < (SELECT rowid FROM tokens WHERE id = ?)`;
    if (!this.db.prepare(`SELECT 1 FROM tokens WHERE ${older} LIMIT 1`).get(agentId, currentId, until, currentId)) return 0;
    return this.db.prepare(`UPDATE tokens SET expires_at = ? WHERE ${older}`).run(until, agentId, currentId, until, currentId).changes;
  }

  /** Marks the agent's live credentials for rotation at its next contact; returns how many. */
  requestRotation(agentId: string, now = Date.now()): number {
    return this.db
      .prepare("UPDATE tokens SET rotate_requested_at = ? WHERE kind = 'agent' AND agent_id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)")
      .run(now, agentId, now).changes;
  }

  /** Ends the agent's live credentials without revoking them: the id may be enrolled again. Returns how many. */
  release(agentId: string, now = Date.now()): number {
    return this.db
      .prepare("UPDATE tokens SET expires_at = ? WHERE kind = 'agent' AND agent_id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)")
      .run(now, agentId, now).changes;
  }

  /** Revokes every live credential of an agent; returns how many. */
  revokeAll(agentId: string, now = Date.now()): number {
    return this.db.prepare("UPDATE tokens SET revoked_at = ? WHERE kind = 'agent' AND agent_id = ? AND revoked_at IS NULL").run(now, agentId).changes;
  }
}

/** Credentials look like `fagt_<id>_<secret>`; the id finds the row, the secret is compared in constant time. */
export function credentialId(secret: string): string {
  const match = /^fagt_([A-Za-z0-9_-]{12})_/.exec(secret);
  return match?.[1] ?? '';
}
