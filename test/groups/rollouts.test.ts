import { expect } from 'chai';
import { eventually } from '../harness/eventually.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { MOUNT_TEMPLATE, MemberAgent, assign, call, createGroup, desired, ok, rollout, saveTemplate, states, withAudit } from './group-fixture.js';

const NEW = withAudit(MOUNT_TEMPLATE, 900);
const auditOf = (doc: Record<string, unknown> | null): unknown => (doc?.pipes as any)?.main.audit_interval_sec;
/** Members that cannot run the new template, as agents whose pipes fail to start. */
const rejectNew = (doc: Record<string, unknown>): string | undefined => (auditOf(doc) === 900 ? 'pipe main failed to start' : undefined);

describe('staged rollouts', () => {
  let fusion: TestFusion;
  const members: MemberAgent[] = [];

  beforeEach(async () => {
    fusion = await startFusion();
  });
  afterEach(async () => {
    for (const m of members.splice(0)) m.close();
    await fusion.stop();
  });

  /** A group whose members run its first template; `failing` members will NACK the new one. */
  async function fleet(ids: string[], failing: string[] = [], offline: string[] = []): Promise<Map<string, MemberAgent>> {
    await createGroup(fusion, 'nfs', MOUNT_TEMPLATE);
    const online = new Map<string, MemberAgent>();
    for (const id of ids) {
      if (offline.includes(id)) continue;
      const m = await MemberAgent.connect(fusion, id);
      if (failing.includes(id)) m.rejects = rejectNew;
      members.push(m);
      online.set(id, m);
    }
    for (const id of ids) await assign(fusion, 'nfs', id, { variables: { mount_point: id } });
    await eventually(() => [...online.values()].every((m) => auditOf(m.document) === 300));
    return online;
  }

  /** Saves the new template in batches of two, halting after more than one failure; waits until it halts. */
  async function haltedRollout(): Promise<{ id: string; agents: Map<string, MemberAgent> }> {
    const agents = await fleet(['n1', 'n2', 'n3', 'n4', 'n5'], ['n2', 'n3']);
    const saved = await saveTemplate(fusion, 'nfs', NEW, { strategy: 'batches', batch_size: 2, max_failures: 1 });
    expect(saved.rollout).to.include({ batch_count: 3 });
    const view = await eventually(async () => {
      const v = await rollout(fusion, saved.rollout.id);
      return v.status === 'halted' && states(v)['n4'] === 'applied' && v;
    });
    expect(view.status_reason).to.equal('2 failed member(s) exceed max_failures 1');
    expect(view.current_batch).to.equal(2);
    expect(states(view)).to.deep.equal({ n1: 'applied', n2: 'failed', n3: 'failed', n4: 'applied', n5: 'pending' });
    expect(view.agents.find((a: any) => a.agent_id === 'n2').error).to.equal('pipe main failed to start');
    expect(view.counts).to.include({ applied: 2, failed: 2, pending: 1, total: 5 });
    expect(view.counted_failures).to.equal(2);
    return { id: saved.rollout.id, agents };
  }

  it('moves batch by batch and halts when failures exceed max_failures; later batches are not touched', async () => {
    const { agents } = await haltedRollout();
    const n5 = agents.get('n5')!;
    expect(n5.received).to.have.length(1); // only its first config
    expect(auditOf((await desired(fusion, 'n5')).document)).to.equal(300);
    // The failed agents keep running their previous config.
    expect(auditOf(agents.get('n2')!.document)).to.equal(300);
    expect(auditOf(agents.get('n1')!.document)).to.equal(900);
    const group = await ok(fusion, 'GET', '/api/v1/management/groups/nfs');
    expect(group.open_rollout.status).to.equal('halted');
  });

  it('pages its members with a cursor, counts staying whole; a state filter pages too', async () => {
    const { id } = await haltedRollout();
    const base = `/api/v1/management/rollouts/${id}`;
    const pages: string[][] = [];
    let cursor: string | null = null;
    do {
      const page: any = await ok(fusion, 'GET', `${base}?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(page.counts).to.include({ applied: 2, failed: 2, pending: 1, total: 5 });
      pages.push(page.agents.map((a: any) => a.agent_id));
      cursor = page.next_cursor;
    } while (cursor && pages.length < 10);
    expect(pages).to.deep.equal([['n1', 'n2'], ['n3', 'n4'], ['n5']]);
    const failed = await ok(fusion, 'GET', `${base}?state=failed&limit=1`);
    expect(failed.agents.map((a: any) => a.agent_id)).to.deep.equal(['n2']);
    const rest = await ok(fusion, 'GET', `${base}?state=failed&limit=1&cursor=${encodeURIComponent(failed.next_cursor)}`);
    expect([rest.agents.map((a: any) => a.agent_id), rest.next_cursor]).to.deep.equal([['n3'], null]);
    expect((await ok(fusion, 'GET', base)).next_cursor).to.equal(null);
    expect(await ok(fusion, 'GET', `${base}?agents=false`)).to.not.have.property('agents');
    for (const bad of ['limit=0', 'limit=1001', 'cursor=bm90LW91cnM']) {
      const answer = await call(fusion, 'GET', `${base}?${bad}`);
      expect(answer.status, bad).to.equal(400);
      expect(answer.body.error.message, bad).to.be.a('string');
    }
  });

  it('resumes a halted rollout: only new failures count, and the remaining batches run', async () => {
    const { id, agents } = await haltedRollout();
    const resumed = await ok(fusion, 'POST', `/api/v1/management/rollouts/${id}/resume`);
    expect(resumed.status).to.equal('running');
    const done = await eventually(async () => {
      const v = await rollout(fusion, id);
      return v.status === 'completed' && v;
    });
    expect(states(done)['n5']).to.equal('applied');
    expect(done.counted_failures).to.equal(0);
    expect(auditOf(agents.get('n5')!.document)).to.equal(900);
    const again = await call(fusion, 'POST', `/api/v1/management/rollouts/${id}/resume`);
    expect(again.status).to.equal(409);
    expect(again.body.error.code).to.equal('rollout_not_halted');
  });

  it('rolls a halted rollout back: the previous template is saved again and every member returns to it', async () => {
    const { id, agents } = await haltedRollout();
    const res = await ok(fusion, 'POST', `/api/v1/management/rollouts/${id}/rollback`, {});
    expect(res).to.include({ group: 'nfs', revision: 3, restored_from: 1 });
    expect(res.rolled_back.status).to.equal('rolled_back');
    expect(res.rolled_back.counts.cancelled).to.equal(1);
    await eventually(() => [...agents.values()].every((m) => auditOf(m.document) === 300));
    const back = await eventually(async () => {
      const v = await rollout(fusion, res.rollout.id);
      return v.status === 'completed' && v;
    });
    expect(back.counts).to.include({ applied: 5, failed: 0 });
    expect(agents.get('n1')!.received.at(-1)!.encoding).to.equal('patch');
    expect(agents.get('n5')!.received).to.have.length(1); // it never left the old config
    const history = await ok(fusion, 'GET', '/api/v1/management/groups/nfs/history');
    expect(history.revisions.map((r: any) => [r.revision, r.restored_from])).to.deep.equal([[3, 1], [2, null], [1, null]]);
    const stale = await call(fusion, 'POST', `/api/v1/management/rollouts/${id}/rollback`, {});
    expect(stale.body.error.code).to.equal('rollout_not_current');
  });

  it('waits pause_seconds between batches, and a newer save supersedes a rollout that is still running', async () => {
    const agents = await fleet(['n1', 'n2', 'n3']);
    const saved = await saveTemplate(fusion, 'nfs', NEW, { strategy: 'batches', batch_size: 1, pause_seconds: 0.5 });
    // The member's ACK is recorded first, then the pause it starts.
    const paused = await eventually(async () => {
      const v = await rollout(fusion, saved.rollout.id);
      return states(v)['n1'] === 'applied' && v.next_batch_at !== null && v;
    });
    expect(paused.next_batch_at).to.be.a('number');
    expect(states(paused)).to.deep.include({ n2: 'pending', n3: 'pending' });
    expect(agents.get('n2')!.received).to.have.length(1);
    await eventually(async () => states(await rollout(fusion, saved.rollout.id))['n2'] === 'applied');

    const newer = await saveTemplate(fusion, 'nfs', withAudit(MOUNT_TEMPLATE, 120));
    const old = await rollout(fusion, saved.rollout.id);
    expect(old.status).to.equal('superseded');
    expect(states(old)['n3']).to.equal('cancelled');
    await eventually(() => [...agents.values()].every((m) => auditOf(m.document) === 120));
    await eventually(async () => (await rollout(fusion, newer.rollout.id)).status === 'completed');
  });

  it('does not let offline members hold a batch back; they report when they reconnect', async () => {
    await fleet(['n1', 'n2', 'n3'], [], ['n2']);
    const saved = await saveTemplate(fusion, 'nfs', NEW, { strategy: 'batches', batch_size: 1 });
    const done = await eventually(async () => {
      const v = await rollout(fusion, saved.rollout.id);
      return v.status === 'completed' && v;
    });
    // Connected members go first.
    expect(done.agents.map((a: any) => [a.agent_id, a.batch])).to.deep.equal([['n1', 1], ['n3', 2], ['n2', 3]]);
    expect(states(done)).to.deep.equal({ n1: 'applied', n3: 'applied', n2: 'applying' });
    const n2 = await MemberAgent.connect(fusion, 'n2');
    members.push(n2);
    await eventually(async () => states(await rollout(fusion, saved.rollout.id))['n2'] === 'applied');
    expect(auditOf(n2.document)).to.equal(900);
  });

  it('holds a batch whose member dropped without answering until it reconnects and answers', async () => {
    const agents = await fleet(['n1', 'n2']);
    agents.get('n1')!.crashOnConfig = true;
    const saved = await saveTemplate(fusion, 'nfs', NEW, { strategy: 'batches', batch_size: 1 });
    await eventually(() => agents.get('n1')!.client.closeCode !== undefined);
    const held = await rollout(fusion, saved.rollout.id);
    expect(held).to.include({ status: 'running', current_batch: 1 });
    expect(states(held)).to.deep.equal({ n1: 'applying', n2: 'pending' });
    expect(held.agents.find((a: any) => a.agent_id === 'n1')).to.include({ awaited: true, online: false });
    expect(agents.get('n2')!.received).to.have.length(1);

    const back = await MemberAgent.connect(fusion, 'n1', { from: agents.get('n1')! });
    members.push(back);
    const done = await eventually(async () => {
      const v = await rollout(fusion, saved.rollout.id);
      return v.status === 'completed' && v;
    });
    expect(states(done)).to.deep.equal({ n1: 'applied', n2: 'applied' });
    expect(auditOf(back.document)).to.equal(900);
  });

  it('fails a connected member that does not answer within batch_timeout_seconds, which halts at max_failures; a late ACK still counts', async () => {
    const agents = await fleet(['n1', 'n2']);
    const n1 = agents.get('n1')!;
    n1.holdConfigs = true;
    const bad = await call(fusion, 'PUT', '/api/v1/management/groups/nfs/template', { template: NEW, rollout: { strategy: 'all', batch_timeout_seconds: 0 } });
    expect(bad.status).to.equal(400);
    expect(JSON.stringify(bad.body)).to.include('batch_timeout_seconds');

    const saved = await saveTemplate(fusion, 'nfs', NEW, { strategy: 'batches', batch_size: 1, max_failures: 0, batch_timeout_seconds: 0.3 });
    const halted = await eventually(async () => {
      const v = await rollout(fusion, saved.rollout.id);
      return v.status === 'halted' && v;
    });
    expect(states(halted)).to.deep.equal({ n1: 'failed', n2: 'pending' });
    expect(halted.agents.find((a: any) => a.agent_id === 'n1').error).to.equal('no answer within 0.3 s of its batch starting (batch_timeout_seconds)');
    expect(n1.client.closeCode).to.equal(undefined);
    expect(agents.get('n2')!.received).to.have.length(1);

    n1.answerHeld();
    await eventually(async () => states(await rollout(fusion, saved.rollout.id))['n1'] === 'applied');
    expect(auditOf(n1.document)).to.equal(900);
  });

  it('moves on to the next batch when a silent member times out within max_failures', async () => {
    const agents = await fleet(['n1', 'n2']);
    agents.get('n1')!.holdConfigs = true;
    const res = await fusion.api('/api/v1/management/groups/nfs/template?strategy=batches&batch_size=1&max_failures=1&batch_timeout_seconds=0.3', {
      method: 'PUT',
      headers: { 'content-type': 'application/yaml' },
      body: NEW,
    });
    const saved = (await res.json()) as any;
    expect(res.status).to.equal(200, JSON.stringify(saved));
    expect(saved.rollout.strategy).to.include({ batch_timeout_seconds: 0.3 });
    const done = await eventually(async () => {
      const v = await rollout(fusion, saved.rollout.id);
      return v.status === 'completed' && v;
    });
    expect(states(done)).to.deep.equal({ n1: 'failed', n2: 'applied' });
    expect(auditOf(agents.get('n2')!.document)).to.equal(900);
  });

  it('settles a batch with an answer that comes after a Fusion restart', async () => {
    const agents = await fleet(['n1', 'n2']);
    agents.get('n1')!.crashOnConfig = true;
    const saved = await saveTemplate(fusion, 'nfs', NEW, { strategy: 'batches', batch_size: 1 });
    await eventually(() => agents.get('n1')!.client.closeCode !== undefined);
    const before = members.splice(0);
    for (const m of before) m.close();
    await fusion.restart();
    expect(states(await rollout(fusion, saved.rollout.id))).to.deep.equal({ n1: 'applying', n2: 'pending' });

    for (const old of before) members.push(await MemberAgent.connect(fusion, old.agentId, { from: old }));
    // n2 may still be reconnecting when n1's answer starts its batch: an offline member does not hold
    // the batch, and reports once it is back (so the rollout can complete before n2 has applied).
    const done = await eventually(async () => {
      const v = await rollout(fusion, saved.rollout.id);
      return v.status === 'completed' && states(v)['n2'] === 'applied' && v;
    });
    expect(states(done)).to.deep.equal({ n1: 'applied', n2: 'applied' });
    expect(members.map((m) => auditOf(m.document))).to.deep.equal([900, 900]);
  });

  it('stops waiting for a member that leaves the group mid-batch; its late answer changes nothing', async () => {
    const agents = await fleet(['n1', 'n2']);
    agents.get('n1')!.crashOnConfig = true;
    const saved = await saveTemplate(fusion, 'nfs', NEW, { strategy: 'batches', batch_size: 1 });
    await eventually(() => agents.get('n1')!.client.closeCode !== undefined);
    await ok(fusion, 'DELETE', '/api/v1/management/groups/nfs/members/n1', undefined, 204);
    const done = await eventually(async () => {
      const v = await rollout(fusion, saved.rollout.id);
      return v.status === 'completed' && v;
    });
    expect(states(done)).to.deep.equal({ n1: 'cancelled', n2: 'applied' });

    // It still has the config the group last rendered for it, applies it, and Fusion records that, but not in the rollout.
    const back = await MemberAgent.connect(fusion, 'n1', { from: agents.get('n1')! });
    members.push(back);
    await eventually(async () => {
      const view = await ok(fusion, 'GET', '/api/v1/management/agents/n1');
      return view.config.status === 'applied' && view.config.applied_signature === back.signature;
    });
    expect(auditOf(back.document)).to.equal(900);
    expect(states(await rollout(fusion, saved.rollout.id))).to.deep.equal({ n1: 'cancelled', n2: 'applied' });
  });

  it('carries a paused rollout on after a Fusion restart', async () => {
    await fleet(['n1', 'n2']);
    const saved = await saveTemplate(fusion, 'nfs', NEW, { strategy: 'batches', batch_size: 1, pause_seconds: 0.3 });
    await eventually(async () => (await rollout(fusion, saved.rollout.id)).next_batch_at !== null);
    for (const m of members.splice(0)) m.close();
    await fusion.restart();
    await eventually(async () => auditOf((await desired(fusion, 'n2')).document) === 900);
    const view = await rollout(fusion, saved.rollout.id);
    expect(view.current_batch).to.equal(2);
    expect(states(view)['n2']).to.equal('applying');
  });
});
