import { nanoid } from 'nanoid';
import type { Db } from '../store/database.js';
import { generateSecret, hashSecret, secretMatches } from './secrets.js';

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
  constructor(private readonly db: Db) {}

  /** Creates a token and returns its secret; the secret is not kept. */
  create(input: {
    kind: TokenKind;
    name: string;
    role?: AdminRole;
    agentId?: string;
    expiresAt?: number | null;
    maxUses?: number | null;
    group?: string | null;
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
    };
    this.db
      .prepare(
        `INSERT INTO tokens (id, kind, name, hash, role, agent_id, created_at, expires_at, max_uses, uses, revoked_at, group_name)
         VALUES (@id, @kind, @name, @hash, @role, @agent_id, @created_at, @expires_at, @max_uses, @uses, @revoked_at, @group_name)`,
      )
      .run({ ...token, hash: hashSecret(secret) });
    return { secret, token };
  }

  /** The live token the secret belongs to, or undefined. */
  verify(kind: TokenKind, secret: string, now = Date.now()): TokenRecord | undefined {
    // Per-agent credentials are many: they are found by their id prefix, then compared in constant time.
    const rows = (
      kind === 'agent'
        ? this.db.prepare('SELECT * FROM tokens WHERE kind = ? AND revoked_at IS NULL AND id = ?').all(kind, credentialId(secret))
        : this.db.prepare('SELECT * FROM tokens WHERE kind = ? AND revoked_at IS NULL').all(kind)
    ) as TokenRow[];
    let found: TokenRow | undefined;
    for (const row of rows) {
      if (secretMatches(secret, row.hash) && !found) found = row;
    }
    if (!found) return undefined;
    if (found.expires_at !== null && found.expires_at <= now) return undefined;
    if (found.max_uses !== null && found.uses >= found.max_uses) return undefined;
    const { hash: _hash, ...record } = found;
    return record;
  }

  /** Counts one use of a token (enrollment). */
  use(id: string): void {
    this.db.prepare('UPDATE tokens SET uses = uses + 1 WHERE id = ?').run(id);
  }

  list(kind: TokenKind): TokenRecord[] {
    return this.db
      .prepare('SELECT id, kind, name, role, agent_id, created_at, expires_at, max_uses, uses, revoked_at, group_name FROM tokens WHERE kind = ? ORDER BY created_at')
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

  /**
   * Issues the per-agent credential of an agent enrolling with an enrollment
   * token: earlier credentials of that agent are revoked, one use of the
   * enrollment token is counted, all in one transaction.
   */
  enroll(agentId: string, enrollmentTokenId: string): string {
    return this.db.transaction(() => {
      this.revokeAgentCredentials(agentId);
      this.use(enrollmentTokenId);
      const id = nanoid(12);
      const secret = `fagt_${id}_${generateSecret('x').slice(2)}`;
      this.create({ kind: 'agent', name: `agent:${agentId}`, agentId, secret, id });
      return secret;
    })();
  }

  /** Revokes every live credential of an agent; returns how many. */
  revokeAgentCredentials(agentId: string): number {
    return this.db.prepare("UPDATE tokens SET revoked_at = ? WHERE kind = 'agent' AND agent_id = ? AND revoked_at IS NULL").run(Date.now(), agentId).changes;
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

/** Credentials look like `fagt_<id>_<secret>`; the id finds the row, the secret is compared in constant time. */
function credentialId(secret: string): string {
  const match = /^fagt_([A-Za-z0-9_-]{12})_/.exec(secret);
  return match?.[1] ?? '';
}
