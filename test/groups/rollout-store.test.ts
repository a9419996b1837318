import { expect } from 'chai';
import { RolloutStore, type MemberState, type RolloutAgent, type RolloutRecord } from '../../server/groups/rollout-store.js';
import type { Sql } from '../../server/store/sql.js';
import { describeOnBackends } from '../harness/test-sql.js';

const record = (id: string, status: RolloutRecord['status'] = 'running', createdAt = 0, toRevision = 2): RolloutRecord => ({
  id,
  group_name: 'g',
  from_revision: 1,
  to_revision: toRevision,
  strategy: { strategy: 'all' },
  status,
  batch_count: 2,
  current_batch: 0,
  failures_baseline: 0,
  next_batch_at: null,
  status_reason: null,
  author: 'admin',
  created_at: createdAt,
  updated_at: createdAt,
  finished_at: null,
});
const ids = (resolved: Array<{ rollout: string }>): string[] => resolved.map((r) => r.rollout);
const row = (rollout: string, agent: string, state: MemberState, signature: string | null, batch = 0): RolloutAgent => ({
  rollout_id: rollout,
  agent_id: agent,
  batch,
  state,
  signature,
  error: null,
  awaited: state === 'applying' ? 1 : 0,
  soak_until: null,
  updated_at: 0,
});
const stateOf = async (store: RolloutStore, rollout: string, agent: string): Promise<Pick<RolloutAgent, 'state' | 'signature' | 'error'>> => {
  const found = (await store.agentsPage(rollout, { limit: 10_000 })).find((a) => a.agent_id === agent);
  if (!found) throw new Error(`no row for ${agent} in ${rollout}`);
  return { state: found.state, signature: found.signature, error: found.error };
};

async function withGroup(sql: Sql): Promise<void> {
  await sql.run("INSERT INTO config_groups (name, revision, signature, created_at, updated_at) VALUES ('g', 1, 'sha256:t', 0, 0)");
}

/**
 * The store answers an acknowledgement from its in-memory index of the rows
 * it can resolve; these check that the index follows every write, is read
 * again when the store is opened (a Fusion restart), and never makes a row
 * differ from what the database holds.
 */
describeOnBackends('rollout store: acknowledgements resolve member rows', (db) => {
  const launch = (store: RolloutStore, id: string, rows: RolloutAgent[], status?: RolloutRecord['status']): Promise<void> =>
    db.sql.transaction(() => store.insert(record(id, status), rows));

  beforeEach(async () => {
    await withGroup(db.sql);
  });

  it('records an ACK once, in every rollout that stored the signature, including one already completed', async () => {
    const store = await RolloutStore.open(db.sql);
    await launch(store, 'old', [row('old', 'a', 'applying', 'sha256:1')], 'completed');
    await launch(store, 'new', [row('new', 'a', 'applying', 'sha256:1'), row('new', 'b', 'applying', 'sha256:2')]);
    expect(ids(await store.resolve('a', 'sha256:other', 'applied', null))).to.deep.equal([]);
    expect(ids(await store.resolve('a', 'sha256:1', 'applied', null))).to.have.members(['old', 'new']);
    expect((await stateOf(store, 'old', 'a')).state).to.equal('applied');
    expect((await stateOf(store, 'new', 'a')).state).to.equal('applied');
    expect(ids(await store.resolve('a', 'sha256:1', 'applied', null))).to.deep.equal([]);
    expect(ids(await store.resolve('nobody', 'sha256:1', 'applied', null))).to.deep.equal([]);
    expect((await stateOf(store, 'new', 'b')).state).to.equal('applying');
    expect(store.awaitingCount()).to.equal(1);
  });

  it('turns a NACK into applied when the same config is applied later; a second NACK changes nothing', async () => {
    const store = await RolloutStore.open(db.sql);
    await launch(store, 'r', [row('r', 'a', 'applying', 'sha256:1')]);
    expect(ids(await store.resolve('a', 'sha256:1', 'failed', 'pipe failed'))).to.deep.equal(['r']);
    expect(await stateOf(store, 'r', 'a')).to.deep.equal({ state: 'failed', signature: 'sha256:1', error: 'pipe failed' });
    expect(await store.failedCount('r')).to.equal(1);
    expect(ids(await store.resolve('a', 'sha256:1', 'failed', 'again'))).to.deep.equal([]);
    expect((await stateOf(store, 'r', 'a')).error).to.equal('pipe failed');
    expect(ids(await store.resolve('a', 'sha256:1', 'applied', null))).to.deep.equal(['r']);
    expect(await stateOf(store, 'r', 'a')).to.deep.equal({ state: 'applied', signature: 'sha256:1', error: null });
    expect(await store.failedCount('r')).to.equal(0);
    expect(store.awaitingCount()).to.equal(0);
  });

  it('finds the rows it waits for again when opened anew (a Fusion restart)', async () => {
    const store = await RolloutStore.open(db.sql);
    await launch(store, 'r', [row('r', 'a', 'applying', 'sha256:1'), row('r', 'b', 'applying', 'sha256:2'), row('r', 'c', 'pending', null, 1)]);
    expect(ids(await store.resolve('b', 'sha256:2', 'failed', 'no'))).to.deep.equal(['r']);
    const reopened = await RolloutStore.open(db.sql);
    expect(reopened.awaitingCount()).to.equal(2);
    expect(ids(await reopened.resolve('a', 'sha256:1', 'applied', null))).to.deep.equal(['r']);
    expect(ids(await reopened.resolve('b', 'sha256:2', 'applied', null))).to.deep.equal(['r']);
    expect((await stateOf(reopened, 'r', 'a')).state).to.equal('applied');
    expect((await stateOf(reopened, 'r', 'b')).state).to.equal('applied');
    expect(reopened.awaitingCount()).to.equal(0);
  });

  it('waits for a later batch once it starts, and for the new signature after a retarget', async () => {
    const store = await RolloutStore.open(db.sql);
    await launch(store, 'r', [row('r', 'a', 'applied', 'sha256:0'), row('r', 'b', 'pending', null, 1)]);
    expect(ids(await store.resolve('b', 'sha256:1', 'applied', null))).to.deep.equal([]);
    await db.sql.transaction(() => store.setAgent('r', 'b', { state: 'applying', signature: 'sha256:1', error: null, awaited: 1 }));
    expect(await store.retarget('b', 'sha256:2')).to.deep.equal(['r']);
    expect(await store.retarget('b', 'sha256:2')).to.deep.equal([]);
    expect(ids(await store.resolve('b', 'sha256:1', 'applied', null))).to.deep.equal([]);
    expect(await stateOf(store, 'r', 'b')).to.include({ state: 'applying', signature: 'sha256:2' });
    expect(ids(await store.resolve('b', 'sha256:2', 'applied', null))).to.deep.equal(['r']);
    expect((await stateOf(store, 'r', 'b')).state).to.equal('applied');
  });

  it('ignores a late answer of a member that left the group', async () => {
    const store = await RolloutStore.open(db.sql);
    await launch(store, 'r', [row('r', 'a', 'applying', 'sha256:1'), row('r', 'b', 'pending', null, 1)]);
    expect(await store.cancelAgent('a')).to.deep.equal(['r']);
    expect(await store.cancelAgent('b')).to.deep.equal(['r']);
    expect(ids(await store.resolve('a', 'sha256:1', 'applied', null))).to.deep.equal([]);
    expect((await stateOf(store, 'r', 'a')).state).to.equal('cancelled');
    expect((await stateOf(store, 'r', 'b')).state).to.equal('cancelled');
    expect(store.awaitingCount()).to.equal(0);
  });

  it('drops what it held for rows that are gone or were rolled back, changing nothing', async () => {
    const store = await RolloutStore.open(db.sql);
    await launch(store, 'r', [row('r', 'a', 'applying', 'sha256:1')]);
    let failed: unknown;
    await db.sql
      .transaction(async () => {
        await store.insert(record('lost'), [row('lost', 'b', 'applying', 'sha256:2')]);
        throw new Error('the save failed');
      })
      .catch((err: unknown) => (failed = err));
    expect(String(failed)).to.contain('the save failed');
    expect(ids(await store.resolve('b', 'sha256:2', 'applied', null))).to.deep.equal([]);
    await db.sql.run("DELETE FROM config_groups WHERE name = 'g'");
    expect(ids(await store.resolve('a', 'sha256:1', 'applied', null))).to.deep.equal([]);
    expect(store.awaitingCount()).to.equal(0);
  });

  it('starts a soak on an ACK when asked, and ends it once', async () => {
    const store = await RolloutStore.open(db.sql);
    await launch(store, 'r', [row('r', 'a', 'applying', 'sha256:1')]);
    const resolved = await store.resolve('a', 'sha256:1', 'applied', null, () => Promise.resolve(5000));
    expect(resolved).to.deep.equal([{ rollout: 'r', state: 'soaking', soak_until: 5000 }]);
    expect(await store.soaking()).to.deep.equal([{ rollout_id: 'r', agent_id: 'a', soak_until: 5000 }]);
    expect(await store.endSoak('r', 'a', { state: 'failed', error: 'pipe main failed' })).to.equal(true);
    expect(await store.endSoak('r', 'a', { state: 'applied' })).to.equal(false);
    expect(await stateOf(store, 'r', 'a')).to.deep.equal({ state: 'failed', signature: 'sha256:1', error: 'pipe main failed' });
  });
});

describeOnBackends('rollout store: records and rows', (db) => {
  beforeEach(async () => {
    await withGroup(db.sql);
  });

  it('stores a large rollout in chunks, sets a batch in chunks, and counts per state', async () => {
    const store = await RolloutStore.open(db.sql);
    const agents = Array.from({ length: 1203 }, (_, i) => `agent-${String(i).padStart(4, '0')}`);
    const rows = agents.map((id, i) => (i < 3 ? row('r', id, 'applying', `sha256:${i}`) : row('r', id, 'pending', null, 1)));
    await db.sql.transaction(() => store.insert(record('r'), rows));
    expect(await store.counts('r')).to.deep.equal({ pending: 1200, applying: 3, soaking: 0, applied: 0, failed: 0, cancelled: 0, total: 1203 });
    expect(store.awaitingCount()).to.equal(3);

    const batch = await store.batch('r', 1);
    expect(batch).to.have.length(1200);
    await db.sql.transaction(() =>
      store.setAgents(
        'r',
        batch.map((b, i) => ({ agent_id: b.agent_id, state: i % 2 ? 'applying' : 'failed', signature: i % 2 ? `sha256:b${i}` : null, error: i % 2 ? null : 'does not render', awaited: i % 2 })),
      ),
    );
    expect(await store.counts('r')).to.include({ pending: 0, applying: 603, failed: 600, total: 1203 });
    expect(store.awaitingCount()).to.equal(603);
    const one = (await store.agentsPage('r', { state: 'failed', limit: 10_000 })).find((a) => a.batch === 1)!;
    expect(one).to.include({ state: 'failed', signature: null, error: 'does not render', awaited: 0 });
    const applying = (await store.agentsPage('r', { state: 'applying', limit: 10_000 })).find((a) => a.batch === 1)!;
    expect(applying.awaited).to.equal(1);
    expect(applying.signature).to.match(/^sha256:b\d+$/);
    expect(ids(await store.resolve(applying.agent_id, applying.signature!, 'applied', null))).to.deep.equal(['r']);
  });

  it('saves a record, lists a group’s rollouts newest first, open ones, and by status', async () => {
    const store = await RolloutStore.open(db.sql);
    await db.sql.transaction(async () => {
      await store.insert(record('first', 'running', 10, 2), [row('first', 'a', 'pending', null, 1)]);
      await store.insert(record('second', 'running', 10, 3), [row('second', 'a', 'pending', null, 1)]);
    });
    const first = (await store.get('first'))!;
    expect(first.strategy).to.deep.equal({ strategy: 'all' });
    await store.save({ ...first, status: 'superseded', status_reason: 'superseded by revision 3', finished_at: 11, updated_at: 11 });
    await store.cancelPending('first');
    expect((await store.get('first'))!).to.include({ status: 'superseded', status_reason: 'superseded by revision 3', finished_at: 11 });
    expect((await store.forGroup('g')).map((r) => r.id)).to.deep.equal(['second', 'first']);
    expect((await store.openForGroup('g')).map((r) => r.id)).to.deep.equal(['second']);
    expect((await store.allOpen()).map((r) => r.id)).to.deep.equal(['second']);
    expect((await store.withStatus('superseded')).map((r) => r.id)).to.deep.equal(['first']);
    expect(await store.counts('first')).to.include({ cancelled: 1, pending: 0 });
    expect(await store.get('missing')).to.equal(undefined);
  });

  it('keeps a rollout that ended as it ended, and resumes a halted one once', async () => {
    const store = await RolloutStore.open(db.sql);
    await db.sql.transaction(() => store.insert(record('r'), [row('r', 'a', 'failed', 'sha256:1')]));
    const halted = { ...(await store.get('r'))!, status: 'halted' as const, status_reason: 'too many failures' };
    expect(await store.save(halted)).to.equal(true);
    expect(await store.resume('r', 1, 5)).to.equal(true);
    expect(await store.resume('r', 1, 6)).to.equal(false);
    expect(await store.get('r')).to.include({ status: 'running', status_reason: null, failures_baseline: 1, updated_at: 5 });
    expect(await store.save({ ...halted, status: 'superseded', status_reason: 'superseded by revision 3' })).to.equal(true);
    // A late write of the engine (the rollout completed, as it saw it) changes nothing.
    expect(await store.save({ ...halted, status: 'completed', status_reason: null })).to.equal(false);
    expect(await store.resume('r', 0)).to.equal(false);
    expect(await store.get('r')).to.include({ status: 'superseded', status_reason: 'superseded by revision 3' });
  });
});
