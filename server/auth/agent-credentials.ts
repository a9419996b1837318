import { nanoid } from 'nanoid';
import type { Sql } from '../store/sql.js';
import { generateSecret, secretMatches } from './secrets.js';
import { TOKEN_COLUMNS } from './token-columns.js';
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
 * The lock every change to an agent id's credentials and enrollment request
 * holds (inside its transaction): issuing, rotating, releasing and revoking
 * are serialized per agent id, across Fusion processes on one database.
 */
export function identityLock(agentId: string): string {
  return `agent-identity:${agentId}`;
}

const LIVE = "kind = 'agent' AND agent_id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)";

/**
 * Per-agent credentials (token rows of kind `agent`): issued bound to one
 * agent id, with a lifetime; rotated by issuing a new one and shortening the
 * old one's life to a grace period once the agent uses or acknowledges the
 * new one; released (expired at once) or revoked by an admin.
 *
 * An agent's credentials are ordered by `created_at`, which {@link issue}
 * keeps strictly increasing per agent id (a successor issued in the same
 * millisecond is one later), so "issued before" needs no insertion order.
 */
export class AgentCredentials {
  constructor(
    private readonly sql: Sql,
    private readonly tokens: TokenStore,
    readonly policy: CredentialPolicy,
  ) {}

  /** Checks a presented secret for `agentId`; the secret is compared in constant time. */
  async check(secret: string, agentId: string, now = Date.now()): Promise<CredentialCheck> {
    const row = await this.tokens.row(credentialId(secret));
    if (!row || row.kind !== 'agent' || !secretMatches(secret, row.hash)) return { ok: false, reason: 'unknown' };
    if (row.revoked_at !== null) return { ok: false, reason: 'revoked' };
    if (row.expires_at !== null && row.expires_at <= now) return { ok: false, reason: 'expired' };
    if (row.agent_id !== agentId) return { ok: false, reason: 'other_agent' };
    const { hash: _hash, ...credential } = row;
    return { ok: true, credential };
  }

  /** Whether the agent id holds a credential that is neither revoked nor expired. */
  async hasLive(agentId: string, now = Date.now()): Promise<boolean> {
    return (await this.sql.get(`SELECT 1 AS live FROM tokens WHERE ${LIVE} LIMIT 1`, [agentId, now])) !== undefined;
  }

  /** The agent's live credentials, newest first. */
  async live(agentId: string, now = Date.now()): Promise<TokenRecord[]> {
    return this.sql.all<TokenRecord>(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE ${LIVE} ORDER BY created_at DESC, id DESC`, [agentId, now]);
  }

  /**
   * Issues a credential for `agentId`, later than every credential the id
   * held. Inside the caller's transaction when there is one (a savepoint of it).
   */
  async issue(agentId: string, enrollmentTokenId: string | null, now = Date.now()): Promise<IssuedCredential> {
    return this.sql.transaction(async () => {
      await this.sql.lock(identityLock(agentId));
      const last = await this.sql.get<{ at: number | null }>("SELECT MAX(created_at) AS at FROM tokens WHERE kind = 'agent' AND agent_id = ?", [agentId]);
      const createdAt = last?.at === null || last?.at === undefined ? now : Math.max(now, Number(last.at) + 1);
      const id = nanoid(12);
      const secret = `fagt_${id}_${generateSecret('x').slice(2)}`;
      const expiresAt = createdAt + this.policy.lifetimeMs;
      await this.tokens.create({ kind: 'agent', name: `agent:${agentId}`, agentId, secret, id, expiresAt, enrollmentTokenId, createdAt });
      return { secret, id, expiresAt };
    });
  }

  /**
   * Issues the successor of the credential `current` (same agent, same
   * enrollment token), in one transaction under the agent's {@link identityLock}.
   * The current one stays valid until the agent uses or acknowledges the new
   * one ({@link retireOlder}). When `current` was revoked or ended meanwhile
   * (an admin, another Fusion process), nothing is issued and the reason is
   * returned instead. Committed when it returns, unless it ran inside the
   * agents' batch of writes: then the caller flushes before handing it out.
   */
  async rotate(current: Pick<TokenRecord, 'id' | 'agent_id'>, now = Date.now()): Promise<IssuedCredential | 'revoked' | 'expired'> {
    const agentId = current.agent_id;
    if (agentId === null) return 'revoked';
    return this.sql.transaction(async () => {
      await this.sql.lock(identityLock(agentId));
      const row = await this.tokens.get(current.id);
      if (!row || row.kind !== 'agent' || row.revoked_at !== null) return 'revoked';
      if (row.expires_at !== null && row.expires_at <= now) return 'expired';
      await this.sql.run('UPDATE tokens SET rotate_requested_at = NULL WHERE id = ?', [row.id]);
      return this.issue(agentId, row.enrollment_token_id, now);
    });
  }

  /** Whether a credential should be replaced now: close to its expiry, without one, or an admin asked. */
  dueForRotation(credential: Pick<TokenRecord, 'expires_at' | 'rotate_requested_at'>, now = Date.now()): boolean {
    return credential.rotate_requested_at !== null || credential.expires_at === null || credential.expires_at - now <= this.policy.rotateBeforeMs;
  }

  /**
   * The agent holds `currentId` now: every live credential of it issued
   * before that one ends after the grace period. Checked on every
   * authenticated request, so the usual case (nothing to retire) is one
   * indexed read and no write. The UPDATE carries the whole condition, so
   * running it twice at once (two requests, two processes) is harmless.
   */
  async retireOlder(agentId: string, currentId: string, now = Date.now()): Promise<number> {
    const until = now + this.policy.graceMs;
    const older = `kind = 'agent' AND agent_id = ? AND id <> ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
      AND created_at < (SELECT created_at FROM tokens WHERE id = ?)`;
    const params = [agentId, currentId, until, currentId];
    if (!(await this.sql.get(`SELECT 1 AS older FROM tokens WHERE ${older} LIMIT 1`, params))) return 0;
    return (await this.sql.run(`UPDATE tokens SET expires_at = ? WHERE ${older}`, [until, ...params])).changes;
  }

  /** Marks the agent's live credentials for rotation at its next contact; returns how many. */
  async requestRotation(agentId: string, now = Date.now()): Promise<number> {
    return (await this.sql.run(`UPDATE tokens SET rotate_requested_at = ? WHERE ${LIVE}`, [now, agentId, now])).changes;
  }

  /**
   * Ends the agent's live credentials without revoking them: the id may be
   * enrolled again. Returns how many. Under the agent's {@link identityLock},
   * so a rotation or enrollment running meanwhile cannot leave a live one behind.
   */
  async release(agentId: string, now = Date.now()): Promise<number> {
    return this.sql.transaction(async () => {
      await this.sql.lock(identityLock(agentId));
      return (await this.sql.run(`UPDATE tokens SET expires_at = ? WHERE ${LIVE}`, [now, agentId, now])).changes;
    });
  }

  /** Revokes every live credential of an agent; returns how many. Under the agent's {@link identityLock}, as {@link release}. */
  async revokeAll(agentId: string, now = Date.now()): Promise<number> {
    return this.sql.transaction(async () => {
      await this.sql.lock(identityLock(agentId));
      return (await this.sql.run("UPDATE tokens SET revoked_at = ? WHERE kind = 'agent' AND agent_id = ? AND revoked_at IS NULL", [now, agentId])).changes;
    });
  }
}

/** Credentials look like `fagt_<id>_<secret>`; the id finds the row, the secret is compared in constant time. */
export function credentialId(secret: string): string {
  const match = /^fagt_([A-Za-z0-9_-]{12})_/.exec(secret);
  return match?.[1] ?? '';
}
