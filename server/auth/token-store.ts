import { nanoid } from 'nanoid';
import type { Db } from '../store/database.js';
import { generateSecret, hashSecret, secretMatches } from './secrets.js';
import { AgentCredentials, credentialPolicy, type CredentialPolicy } from './agent-credentials.js';

export type TokenKind = 'admin' | 'enrollment' | 'agent';
export type AdminRole = 'viewer' | 'operator' | 'admin';

/** A stored token, without its secret (only the hash is kept). */
export interface TokenRecord {
  id: string;
  kind: TokenKind;
  name: string;
  role: AdminRole | null;
  agent_id: string | null;
  created_at: number;
  expires_at: number | null;
  max_uses: number | null;
  uses: number;
  revoked_at: number | null;
  /** Enrollment tokens: the group an agent enrolled with it joins. */
  group_name: string | null;
  /** Agent credentials: the enrollment token the agent enrolled with (its group is the agent's). */
  enrollment_token_id: string | null;
  /** Enrollment tokens: 1 when an agent enrolling with it waits for an admin's approval. */
  requires_approval: number;
  /** Agent credentials: when an admin asked for a new one (rotated at the agent's next contact). */
  rotate_requested_at: number | null;
}

interface TokenRow extends TokenRecord {
  hash: string;
}

/**
 * Admin, enrollment and per-agent tokens, stored as hashes. Verification
 * compares the presented secret against every live token of its kind in
 * constant time, so neither timing nor an index lookup reveals a near miss.
 */
export class TokenStore {
  /** The per-agent credentials among these tokens. */
  readonly credentials: AgentCredentials;

  constructor(
    private readonly db: Db,
    policy: Partial<CredentialPolicy> = {},
  ) {
    this.credentials = new AgentCredentials(db, this, credentialPolicy(policy));
  }

  /** Creates a token and returns its secret; the secret is not kept. */
  create(input: {
    kind: TokenKind;
    name: string;
    role?: AdminRole;
    agentId?: string;
    expiresAt?: number | null;
    maxUses?: number | null;
    group?: string | null;
    enrollmentTokenId?: string | null;
    requiresApproval?: boolean;
    secret?: string;
    id?: string;
  }): { secret: string; token: TokenRecord } {
    const secret = input.secret ?? generateSecret(input.kind === 'admin' ? 'fadm' : input.kind === 'enrollment' ? 'fenr' : 'fagt');
    const token: TokenRecord = {
      id: input.id ?? nanoid(12),
      kind: input.kind,
      name: input.name,
      role: input.role ?? null,
      agent_id: input.agentId ?? null,
      created_at: Date.now(),
      expires_at: input.expiresAt ?? null,
      max_uses: input.maxUses ?? null,
      uses: 0,
      revoked_at: null,
      group_name: input.group ?? null,
      enrollment_token_id: input.enrollmentTokenId ?? null,
      requires_approval: input.requiresApproval ? 1 : 0,
      rotate_requested_at: null,
    };
    this.db
      .prepare(
        `INSERT INTO tokens (id, kind, name, hash, role, agent_id, created_at, expires_at, max_uses, uses, revoked_at, group_name, enrollment_token_id, requires_approval)
         VALUES (@id, @kind, @name, @hash, @role, @agent_id, @created_at, @expires_at, @max_uses, @uses, @revoked_at, @group_name, @enrollment_token_id, @requires_approval)`,
      )
      .run({ ...token, hash: hashSecret(secret) });
    return { secret, token };
  }

  /**
   * The live admin or enrollment token the secret belongs to, or undefined.
   * Agent credentials are checked by {@link AgentCredentials.check}, which
   * also says why one is refused.
   */
  verify(kind: 'admin' | 'enrollment', secret: string, now = Date.now()): TokenRecord | undefined {
    const rows = this.db.prepare('SELECT * FROM tokens WHERE kind = ? AND revoked_at IS NULL').all(kind) as TokenRow[];
    let found: TokenRow | undefined;
    for (const row of rows) {
      if (secretMatches(secret, row.hash) && !found) found = row;
    }
    if (!found || !usable(found, now)) return undefined;
    const { hash: _hash, ...record } = found;
    return record;
  }

  /** The row of one token with its hash, for the stores that check secrets themselves. */
  row(id: string): (TokenRecord & { hash: string }) | undefined {
    return this.db.prepare('SELECT * FROM tokens WHERE id = ?').get(id) as TokenRow | undefined;
  }

  /** Counts one use of a token (enrollment). */
  use(id: string): void {
    this.db.prepare('UPDATE tokens SET uses = uses + 1 WHERE id = ?').run(id);
  }

  list(kind: TokenKind): TokenRecord[] {
    return this.db
      .prepare(
        `SELECT id, kind, name, role, agent_id, created_at, expires_at, max_uses, uses, revoked_at, group_name, enrollment_token_id, requires_approval, rotate_requested_at
         FROM tokens WHERE kind = ? ORDER BY created_at`,
      )
      .all(kind) as TokenRecord[];
  }

  countLive(kind: TokenKind): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM tokens WHERE kind = ? AND revoked_at IS NULL').get(kind) as { n: number }).n;
  }

  get(id: string): TokenRecord | undefined {
    const row = this.db.prepare('SELECT * FROM tokens WHERE id = ?').get(id) as TokenRow | undefined;
    if (!row) return undefined;
    const { hash: _hash, ...record } = row;
    return record;
  }

  revoke(id: string): boolean {
    return this.db.prepare('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(Date.now(), id).changes > 0;
  }

  /**
   * Makes `secret` a live token named `name` (from an environment variable):
   * an existing token of that name with another secret is revoked first.
   */
  seed(kind: TokenKind, name: string, secret: string, role?: AdminRole): void {
    this.db.transaction(() => {
      const rows = this.db.prepare('SELECT * FROM tokens WHERE kind = ? AND name = ? AND revoked_at IS NULL').all(kind, name) as TokenRow[];
      if (rows.some((r) => secretMatches(secret, r.hash))) return;
      for (const r of rows) this.revoke(r.id);
      this.create({ kind, name, secret, ...(role ? { role } : {}) });
    })();
  }
}

/** Whether a live token may be used now: not expired, and uses left. */
export function usable(token: Pick<TokenRecord, 'expires_at' | 'max_uses' | 'uses'>, now = Date.now()): boolean {
  if (token.expires_at !== null && token.expires_at <= now) return false;
  return token.max_uses === null || token.uses < token.max_uses;
}
