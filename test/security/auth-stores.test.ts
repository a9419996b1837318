import { expect } from 'chai';
import { credentialId, type IssuedCredential } from '../../server/auth/agent-credentials.js';
import { Enrollment, type EnrollOutcome } from '../../server/auth/enrollment.js';
import { EnrollmentRequests } from '../../server/auth/enrollment-requests.js';
import { TokenStore } from '../../server/auth/token-store.js';
import type { Sql } from '../../server/store/sql.js';
import { describeOnBackends } from '../harness/test-sql.js';

const MINUTE = 60_000;

function enrollmentOf(sql: Sql, tokens: TokenStore, requireApproval = false): Enrollment {
  return new Enrollment({
    sql,
    tokens,
    credentials: tokens.credentials,
    requests: new EnrollmentRequests(sql),
    requireApproval: () => requireApproval,
    flushWrites: () => sql.flush(),
  });
}

function issued(outcome: EnrollOutcome): IssuedCredential {
  if (outcome.outcome !== 'issued') throw new Error(`expected a credential, got ${JSON.stringify(outcome)}`);
  return outcome;
}

describeOnBackends('auth stores: tokens', (db) => {
  it('verifies a token by its secret until it is revoked, and keeps only its hash', async () => {
    const tokens = new TokenStore(db.sql);
    const { secret, token } = await tokens.create({ kind: 'admin', name: 'ops', role: 'operator' });
    expect(secret).to.match(/^fadm_/);
    expect((await tokens.verify('admin', secret))?.id).to.equal(token.id);
    expect(await tokens.verify('admin', `${secret}x`)).to.equal(undefined);
    expect(await tokens.verify('enrollment', secret), 'another kind').to.equal(undefined);
    const row = await db.sql.get<{ hash: string }>('SELECT hash FROM tokens WHERE id = ?', [token.id]);
    expect(row!.hash).to.not.include(secret);

    // A second store on the same database stands for another Fusion process: nothing is cached.
    const other = new TokenStore(db.sql);
    expect(await other.revoke(token.id)).to.equal(true);
    expect(await other.revoke(token.id), 'already revoked').to.equal(false);
    expect(await tokens.verify('admin', secret)).to.equal(undefined);
    expect(await tokens.countLive('admin')).to.equal(0);
    expect((await tokens.list('admin')).map((t) => t.revoked_at !== null)).to.deep.equal([true]);
  });

  it('refuses an expired token', async () => {
    const tokens = new TokenStore(db.sql);
    const now = Date.now();
    const { secret } = await tokens.create({ kind: 'enrollment', name: 'short', expiresAt: now + MINUTE });
    expect(await tokens.verify('enrollment', secret, now)).to.not.equal(undefined);
    expect(await tokens.verify('enrollment', secret, now + MINUTE)).to.equal(undefined);
  });

  it('counts exactly max_uses uses when 20 race for a token with 5', async () => {
    const tokens = new TokenStore(db.sql);
    const { secret, token } = await tokens.create({ kind: 'enrollment', name: 'five', maxUses: 5 });
    const results = await Promise.all(Array.from({ length: 20 }, () => tokens.use(token.id)));
    expect(results.filter(Boolean)).to.have.length(5);
    expect((await tokens.get(token.id))!.uses).to.equal(5);
    expect(await tokens.verify('enrollment', secret), 'used up').to.equal(undefined);
    expect(await tokens.use(token.id)).to.equal(false);
  });

  it('does not count a use of a revoked or expired token', async () => {
    const tokens = new TokenStore(db.sql);
    const now = Date.now();
    const revoked = (await tokens.create({ kind: 'enrollment', name: 'revoked' })).token;
    await tokens.revoke(revoked.id);
    expect(await tokens.use(revoked.id)).to.equal(false);
    const expiring = (await tokens.create({ kind: 'enrollment', name: 'expiring', expiresAt: now + MINUTE })).token;
    expect(await tokens.use(expiring.id, now + MINUTE)).to.equal(false);
    expect(await tokens.use(expiring.id, now)).to.equal(true);
  });

  it('never revokes the last admin-role token, even when revocations of every one race', async () => {
    const tokens = new TokenStore(db.sql);
    const admins = await Promise.all(Array.from({ length: 6 }, (_, i) => tokens.create({ kind: 'admin', name: `admin-${i}`, role: 'admin' })));
    const viewer = (await tokens.create({ kind: 'admin', name: 'v', role: 'viewer' })).token;
    const outcomes = await Promise.all(admins.map(({ token }) => tokens.revokeOfKind('admin', token.id)));
    expect(outcomes.filter((r) => r.outcome === 'revoked')).to.have.length(5);
    expect(outcomes.filter((r) => r.outcome === 'last_admin')).to.have.length(1);
    expect((await tokens.list('admin')).filter((t) => t.role === 'admin' && t.revoked_at === null)).to.have.length(1);
    expect((await tokens.revokeOfKind('admin', viewer.id)).outcome).to.equal('revoked');
    expect((await tokens.revokeOfKind('admin', viewer.id)).outcome).to.equal('already_revoked');
    expect((await tokens.revokeOfKind('enrollment', admins[0]!.token.id)).outcome, 'another kind').to.equal('not_found');
  });

  it('seeds a token from a given secret once, and replaces it when the secret changes', async () => {
    const tokens = new TokenStore(db.sql);
    await tokens.seed('admin', 'env:FUSION_ADMIN_TOKEN', 'fadm_first-secret-0123456789', 'admin');
    await tokens.seed('admin', 'env:FUSION_ADMIN_TOKEN', 'fadm_first-secret-0123456789', 'admin');
    expect(await tokens.countLive('admin')).to.equal(1);
    await tokens.seed('admin', 'env:FUSION_ADMIN_TOKEN', 'fadm_second-secret-0123456789', 'admin');
    expect(await tokens.countLive('admin')).to.equal(1);
    expect(await tokens.verify('admin', 'fadm_first-secret-0123456789')).to.equal(undefined);
    expect((await tokens.verify('admin', 'fadm_second-secret-0123456789'))?.role).to.equal('admin');
  });
});

describeOnBackends('auth stores: agent credentials', (db) => {
  it('checks a credential for its own agent only, and says why one is refused', async () => {
    const tokens = new TokenStore(db.sql);
    const { credentials } = tokens;
    const now = Date.now();
    const issuedOne = await credentials.issue('node-1', null, now);
    expect(credentialId(issuedOne.secret)).to.equal(issuedOne.id);
    expect(await credentials.check(issuedOne.secret, 'node-1', now)).to.deep.include({ ok: true });
    expect(await credentials.check(issuedOne.secret, 'node-2', now)).to.deep.equal({ ok: false, reason: 'other_agent' });
    expect(await credentials.check(`${issuedOne.secret.slice(0, -1)}x`, 'node-1', now)).to.deep.equal({ ok: false, reason: 'unknown' });
    expect(await credentials.check(issuedOne.secret, 'node-1', issuedOne.expiresAt)).to.deep.equal({ ok: false, reason: 'expired' });
    expect(await credentials.hasLive('node-1', now)).to.equal(true);
    expect(await credentials.revokeAll('node-1', now)).to.equal(1);
    expect(await credentials.check(issuedOne.secret, 'node-1', now)).to.deep.equal({ ok: false, reason: 'revoked' });
    expect(await credentials.hasLive('node-1', now)).to.equal(false);
  });

  it('rotates: the successor is newer even within one millisecond, and using it retires the old one after the grace period', async () => {
    const tokens = new TokenStore(db.sql, { lifetimeMs: 30 * MINUTE, graceMs: MINUTE });
    const { credentials } = tokens;
    const now = Date.now();
    const first = await credentials.issue('node-1', null, now);
    const record = (await tokens.get(first.id))!;
    expect(credentials.dueForRotation(record, now)).to.equal(false);
    expect(await credentials.requestRotation('node-1', now)).to.equal(1);
    expect(credentials.dueForRotation((await tokens.get(first.id))!, now)).to.equal(true);

    const second = await credentials.rotate(record, now);
    if (typeof second === 'string') throw new Error(`rotation refused: ${second}`);
    expect((await tokens.get(first.id))!.rotate_requested_at, 'the request is served').to.equal(null);
    expect((await credentials.live('node-1', now)).map((c) => c.id)).to.deep.equal([second.id, first.id]);
    expect((await tokens.get(second.id))!.created_at).to.be.greaterThan((await tokens.get(first.id))!.created_at);

    // The old one keeps working until the agent uses the new one.
    expect(await credentials.retireOlder('node-1', first.id, now)).to.equal(0);
    expect(await credentials.retireOlder('node-1', second.id, now)).to.equal(1);
    expect(await credentials.retireOlder('node-1', second.id, now), 'nothing left to retire').to.equal(0);
    expect(await credentials.check(first.secret, 'node-1', now + MINUTE - 1)).to.deep.include({ ok: true });
    expect(await credentials.check(first.secret, 'node-1', now + MINUTE)).to.deep.equal({ ok: false, reason: 'expired' });
    expect(await credentials.check(second.secret, 'node-1', now + MINUTE)).to.deep.include({ ok: true });
  });

  it('issues no successor for a credential revoked or released meanwhile', async () => {
    const tokens = new TokenStore(db.sql);
    const { credentials } = tokens;
    const revoked = await credentials.issue('node-1', null);
    const revokedRecord = (await tokens.get(revoked.id))!;
    await credentials.revokeAll('node-1');
    expect(await credentials.rotate(revokedRecord)).to.equal('revoked');
    const released = await credentials.issue('node-2', null);
    const releasedRecord = (await tokens.get(released.id))!;
    expect(await credentials.release('node-2')).to.equal(1);
    expect(await credentials.rotate(releasedRecord)).to.equal('expired');
    expect(await credentials.hasLive('node-1')).to.equal(false);
    expect(await credentials.hasLive('node-2')).to.equal(false);
  });

  it('leaves no live credential when a revocation races rotations', async () => {
    const tokens = new TokenStore(db.sql);
    const { credentials } = tokens;
    const current = (await tokens.get((await credentials.issue('node-1', null)).id))!;
    const results = await Promise.all([credentials.rotate(current), credentials.rotate(current), credentials.revokeAll('node-1'), credentials.rotate(current)]);
    expect(results[2]).to.be.a('number');
    expect(await credentials.hasLive('node-1'), 'every credential issued before or after the revocation is revoked').to.equal(false);
  });
});

describeOnBackends('auth stores: enrollment and its requests', (db) => {
  it('issues exactly max_uses credentials when 20 agents race for a token with 5', async () => {
    const tokens = new TokenStore(db.sql);
    const enrollment = enrollmentOf(db.sql, tokens);
    const { token } = await tokens.create({ kind: 'enrollment', name: 'five', maxUses: 5 });
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, (_, i) => enrollment.enroll({ agentId: `node-${i}`, enrollmentTokenId: token.id, hostname: null, address: null })),
    );
    expect(outcomes.filter((o) => o.outcome === 'issued')).to.have.length(5);
    expect(outcomes.filter((o) => o.outcome === 'refused' && o.status === 401)).to.have.length(15);
    expect((await tokens.get(token.id))!.uses).to.equal(5);
    const enrolled = await db.sql.get<{ n: number }>("SELECT COUNT(*) AS n FROM tokens WHERE kind = 'agent'");
    expect(enrolled!.n).to.equal(5);
  });

  it('enrols one id once when its attempts race', async () => {
    const tokens = new TokenStore(db.sql);
    const enrollment = enrollmentOf(db.sql, tokens);
    const { token } = await tokens.create({ kind: 'enrollment', name: 'open' });
    const outcomes = await Promise.all(Array.from({ length: 10 }, () => enrollment.enroll({ agentId: 'node-1', enrollmentTokenId: token.id, hostname: null, address: null })));
    expect(outcomes.filter((o) => o.outcome === 'issued')).to.have.length(1);
    expect(outcomes.filter((o) => o.outcome === 'refused' && o.code === 'agent_already_enrolled')).to.have.length(9);
    expect(await tokens.credentials.live('node-1')).to.have.length(1);
    expect((await tokens.get(token.id))!.uses).to.equal(1);
  });

  it('waits for an admin: pending, then issued once accepted, or refused once rejected', async () => {
    const tokens = new TokenStore(db.sql);
    const enrollment = enrollmentOf(db.sql, tokens);
    const requests = enrollment.requests;
    const { token } = await tokens.create({ kind: 'enrollment', name: 'gated', requiresApproval: true, group: 'edge' });
    const t0 = Date.now();
    const ask = (agentId: string, hostname: string | null, now: number): Promise<EnrollOutcome> =>
      enrollment.enroll({ agentId, enrollmentTokenId: token.id, hostname, address: '10.0.0.1' }, now);

    expect(await ask('node-1', 'host-1', t0)).to.deep.equal({ outcome: 'pending' });
    expect(await ask('node-1', null, t0 + 1000)).to.deep.equal({ outcome: 'pending' });
    const pending = (await requests.get('node-1'))!;
    expect(pending).to.include({ state: 'pending', token_id: token.id, hostname: 'host-1', requested_at: t0, last_seen: t0 + 1000 });
    expect((await tokens.get(token.id))!.uses, 'a pending request uses nothing').to.equal(0);

    const accepted = await requests.decide('node-1', 'accepted', 'admin-token', t0 + 2000);
    expect(accepted).to.deep.include({ outcome: 'decided' });
    expect((await requests.decide('node-1', 'accepted', 'admin-token')).outcome).to.equal('unchanged');
    expect((await requests.decide('node-9', 'accepted', 'admin-token')).outcome).to.equal('not_found');
    const credential = issued(await ask('node-1', 'host-1', t0 + 3000));
    expect(await tokens.enrollmentGroup((await tokens.get(credential.id))!)).to.equal('edge');
    expect(await requests.get('node-1'), 'the request is done with').to.equal(undefined);

    expect(await ask('node-2', 'host-2', t0)).to.deep.equal({ outcome: 'pending' });
    expect((await requests.list('pending')).map((r) => r.agent_id)).to.deep.equal(['node-2']);
    await requests.decide('node-2', 'rejected', 'admin-token');
    expect(await ask('node-2', 'host-2', t0 + 1000)).to.deep.include({ outcome: 'refused', status: 403 });
    expect((await requests.list()).map((r) => r.state)).to.deep.equal(['rejected']);
    expect(await requests.remove('node-2')).to.equal(true);
    expect(await requests.remove('node-2')).to.equal(false);
  });

  it('refuses a revoked enrollment token and an id that holds a live credential', async () => {
    const tokens = new TokenStore(db.sql);
    const enrollment = enrollmentOf(db.sql, tokens);
    const { token } = await tokens.create({ kind: 'enrollment', name: 'any' });
    issued(await enrollment.enroll({ agentId: 'node-1', enrollmentTokenId: token.id, hostname: null, address: null }));
    expect(await enrollment.enroll({ agentId: 'node-1', enrollmentTokenId: token.id, hostname: null, address: null })).to.deep.include({ status: 409 });
    // Released, the id may enrol again.
    await tokens.credentials.release('node-1');
    issued(await enrollment.enroll({ agentId: 'node-1', enrollmentTokenId: token.id, hostname: null, address: null }));
    await tokens.revoke(token.id);
    expect(await enrollment.enroll({ agentId: 'node-2', enrollmentTokenId: token.id, hostname: null, address: null })).to.deep.include({ status: 401 });
  });
});
