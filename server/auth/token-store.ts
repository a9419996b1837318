import { nanoid } from 'nanoid';
import type { Sql } from '../store/sql.js';
import { generateSecret, hashSecret, secretMatches } from './secrets.js';
import { AgentCredentials, credentialPolicy, type CredentialPolicy } from './agent-credentials.js';
import { TOKEN_COLUMNS } from './token-columns.js';

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

/** What {@link TokenStore.revokeOfKind} came to. */
export type TokenRevocation = { outcome: 'revoked'; token: TokenRecord } | { outcome: 'not_found' | 'already_revoked' | 'last_admin' };

/**
 * Admin, enrollment and per-agent tokens, stored as hashes. Verification
 * compares the presented secret against every live token of its kind in
 * constant time, so neither timing nor an index lookup reveals a near miss.
 * Nothing is cached: every check reads the database, so a token revoked by
 * one Fusion process is refused by every other at once.
 */
export class TokenStore {
  /** The per-agent credentials among these tokens. */
  readonly credentials: AgentCredentials;

  constructor(
    private readonly sql: Sql,
    policy: Partial<CredentialPolicy> = {},
  ) {
    this.credentials = new AgentCredentials(sql, this, credentialPolicy(policy));
  }

  /** Creates a token and returns its secret; the secret is not kept. */
  async create(input: {
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
    createdAt?: number;
  }): Promise<{ secret: string; token: TokenRecord }> {
    const secret = input.secret ?? generateSecret(input.kind === 'admin' ? 'fadm' : input.kind === 'enrollment' ? 'fenr' : 'fagt');
    const token: TokenRecord = {
      id: input.id ?? nanoid(12),
      kind: input.kind,
      name: input.name,
      role: input.role ?? null,
      agent_id: input.agentId ?? null,
      created_at: input.createdAt ?? Date.now(),
      expires_at: input.expiresAt ?? null,
      max_uses: input.maxUses ?? null,
      uses: 0,
      revoked_at: null,
      group_name: input.group ?? null,
      enrollment_token_id: input.enrollmentTokenId ?? null,
      requires_approval: input.requiresApproval ? 1 : 0,
      rotate_requested_at: null,
    };
    await this.sql.run(
      `INSERT INTO tokens (id, kind, name, hash, role, agent_id, created_at, expires_at, max_uses, uses, revoked_at, group_name, enrollment_token_id, requires_approval)
       VALUES (@id, @kind, @name, @hash, @role, @agent_id, @created_at, @expires_at, @max_uses, @uses, @revoked_at, @group_name, @enrollment_token_id, @requires_approval)`,
      {
        id: token.id,
        kind: token.kind,
        name: token.name,
        hash: hashSecret(secret),
        role: token.role,
        agent_id: token.agent_id,
        created_at: token.created_at,
        expires_at: token.expires_at,
        max_uses: token.max_uses,
        uses: token.uses,
        revoked_at: token.revoked_at,
        group_name: token.group_name,
        enrollment_token_id: token.enrollment_token_id,
        requires_approval: token.requires_approval,
      },
    );
    return { secret, token };
  }

  /**
   * The live admin or enrollment token the secret belongs to, or undefined.
   * Agent credentials are checked by {@link AgentCredentials.check}, which
   * also says why one is refused.
   */
  async verify(kind: 'admin' | 'enrollment', secret: string, now = Date.now()): Promise<TokenRecord | undefined> {
    const rows = await this.sql.all<TokenRow>('SELECT * FROM tokens WHERE kind = ? AND revoked_at IS NULL', [kind]);
    let found: TokenRow | undefined;
    for (const row of rows) {
      if (secretMatches(secret, row.hash) && !found) found = row;
    }
    if (!found || !usable(found, now)) return undefined;
    return withoutHash(found);
  }

  /** The row of one token with its hash, for the stores that check secrets themselves. */
  async row(id: string): Promise<(TokenRecord & { hash: string }) | undefined> {
    return this.sql.get<TokenRow>('SELECT * FROM tokens WHERE id = ?', [id]);
  }

  /**
   * Counts one use of a live token (enrollment) unless it is used up or
   * expired: false then. One conditional UPDATE, so concurrent uses (in this
   * process or another) never pass `max_uses`.
   */
  async use(id: string, now = Date.now()): Promise<boolean> {
    const { changes } = await this.sql.run(
      `UPDATE tokens SET uses = uses + 1
       WHERE id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?) AND (max_uses IS NULL OR uses < max_uses)`,
      [id, now],
    );
    return changes > 0;
  }

  async list(kind: TokenKind): Promise<TokenRecord[]> {
    return this.sql.all<TokenRecord>(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE kind = ? ORDER BY created_at, id`, [kind]);
  }

  async countLive(kind: TokenKind): Promise<number> {
    const row = await this.sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM tokens WHERE kind = ? AND revoked_at IS NULL', [kind]);
    return Number(row?.n ?? 0);
  }

  async get(id: string): Promise<TokenRecord | undefined> {
    return this.sql.get<TokenRecord>(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE id = ?`, [id]);
  }

  async revoke(id: string, now = Date.now()): Promise<boolean> {
    return (await this.sql.run('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', [now, id])).changes > 0;
  }

  /**
   * Revokes the `kind` token `id`, except the last live admin token with the
   * admin role (Fusion must stay administrable). The check and the
   * revocation hold one lock per kind, so two admins revoking the last two
   * admin tokens at once (on one Fusion or two) cannot both succeed.
   */
  async revokeOfKind(kind: 'admin' | 'enrollment', id: string, now = Date.now()): Promise<TokenRevocation> {
    return this.sql.transaction(async (): Promise<TokenRevocation> => {
      await this.sql.lock(`tokens:revoke:${kind}`);
      const token = await this.get(id);
      if (!token || token.kind !== kind) return { outcome: 'not_found' };
      if (token.revoked_at !== null) return { outcome: 'already_revoked' };
      if (kind === 'admin' && token.role === 'admin') {
        const others = await this.sql.get<{ n: number }>("SELECT COUNT(*) AS n FROM tokens WHERE kind = 'admin' AND role = 'admin' AND revoked_at IS NULL AND id <> ?", [id]);
        if (Number(others?.n ?? 0) === 0) return { outcome: 'last_admin' };
      }
      await this.sql.run('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', [now, id]);
      return { outcome: 'revoked', token: { ...token, revoked_at: now } };
    });
  }

  /**
   * Makes `secret` a live token named `name` (from an environment variable):
   * an existing token of that name with another secret is revoked first.
   */
  async seed(kind: TokenKind, name: string, secret: string, role?: AdminRole): Promise<void> {
    await this.sql.transaction(async () => {
      await this.sql.lock(`tokens:seed:${kind}:${name}`);
      const rows = await this.sql.all<TokenRow>('SELECT * FROM tokens WHERE kind = ? AND name = ? AND revoked_at IS NULL', [kind, name]);
      if (rows.some((r) => secretMatches(secret, r.hash))) return;
      for (const r of rows) await this.revoke(r.id);
      await this.create({ kind, name, secret, ...(role ? { role } : {}) });
    });
  }

  /**
   * The group of the enrollment token an agent authenticated with: the
   * token's own for an enrollment token, the one it enrolled with for a
   * credential; null when that names none.
   */
  async enrollmentGroup(token: Pick<TokenRecord, 'kind' | 'group_name' | 'enrollment_token_id'>): Promise<string | null> {
    if (token.kind === 'enrollment') return token.group_name;
    if (token.enrollment_token_id === null) return null;
    return (await this.get(token.enrollment_token_id))?.group_name ?? null;
  }
}

/** Whether a live token may be used now: not expired, and uses left. */
export function usable(token: Pick<TokenRecord, 'expires_at' | 'max_uses' | 'uses'>, now = Date.now()): boolean {
  if (token.expires_at !== null && token.expires_at <= now) return false;
  return token.max_uses === null || token.uses < token.max_uses;
}

function withoutHash(row: TokenRow): TokenRecord {
  const { hash: _hash, ...record } = row;
  return record;
}
