import { expect } from 'chai';
import type { Db } from '../../server/store/database.js';
import { RolloutStore, type MemberState, type RolloutAgent, type RolloutRecord } from '../../server/groups/rollout-store.js';
import { tempDatabase, type TempDatabase } from '../server/temp-database.js';

/**
 * The store answers an acknowledgement from its in-memory index of the rows
 * it can resolve; these check that the index follows every write, survives a
 * reopen of the database, and never makes a row differ from what the
 * database holds.
 */
describe('rollout store: acknowledgements resolve member rows', () => {
  let temp: TempDatabase;
  let db: Db;

  beforeEach(async () => {
    temp = await tempDatabase('rollout-store-');
    db = temp.db;
    db.prepare("INSERT INTO config_groups (name, revision, signature, created_at, updated_at) VALUES ('g', 1, 'sha256:t', 0, 0)").run();
  });

  afterEach(async () => {
    await temp.remove();
  });

  const record = (id: string, status: RolloutRecord['status'] = 'running'): RolloutRecord => ({
    id,
    group_name: 'g',
    from_revision: 1,
    to_revision: 2,
    strategy: { strategy: 'all' },
    status,
    batch_count: 2,
    current_batch: 0,
    failures_baseline: 0,
    next_batch_at: null,
    status_reason: null,
    author: 'admin',
    created_at: 0,
    updated_at: 0,
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
  const stateOf = (store: RolloutStore, rollout: string, agent: string): Pick<RolloutAgent, 'state' | 'signature' | 'error'> => {
    const found = store.agents(rollout).find((a) => a.agent_id === agent);
    if (!found) throw new Error(`no row for ${agent} in ${rollout}`);
    return { state: found.state, signature: found.signature, error: found.error };
  };
  const launch = (store: RolloutStore, id: string, rows: RolloutAgent[], status?: RolloutRecord['status']): void =>
    db.transaction(() => store.insert(record(id, status), rows))();

  it('records an ACK once, in every rollout that stored the signature, including one already completed', () => {
    const store = new RolloutStore(db);
    launch(store, 'old', [row('old', 'a', 'applying', 'sha256:1')], 'completed');
    launch(store, 'new', [row('new', 'a', 'applying', 'sha256:1'), row('new', 'b', 'applying', 'sha256:2')]);
    expect(ids(store.resolve('a', 'sha256:other', 'applied', null))).to.deep.equal([]);
    expect(ids(store.resolve('a', 'sha256:1', 'applied', null))).to.have.members(['old', 'new']);
    expect(stateOf(store, 'old', 'a').state).to.equal('applied');
    expect(stateOf(store, 'new', 'a').state).to.equal('applied');
    expect(ids(store.resolve('a', 'sha256:1', 'applied', null))).to.deep.equal([]);
    expect(ids(store.resolve('nobody', 'sha256:1', 'applied', null))).to.deep.equal([]);
    expect(stateOf(store, 'new', 'b').state).to.equal('applying');
    expect(store.awaitingCount()).to.equal(1);
  });

  it('turns a NACK into applied when the same config is applied later; a second NACK changes nothing', () => {
    const store = new RolloutStore(db);
    launch(store, 'r', [row('r', 'a', 'applying', 'sha256:1')]);
    expect(ids(store.resolve('a', 'sha256:1', 'failed', 'pipe failed'))).to.deep.equal(['r']);
    expect(stateOf(store, 'r', 'a')).to.deep.equal({ state: 'failed', signature: 'sha256:1', error: 'pipe failed' });
    expect(store.failedCount('r')).to.equal(1);
    expect(ids(store.resolve('a', 'sha256:1', 'failed', 'again'))).to.deep.equal([]);
    expect(stateOf(store, 'r', 'a').error).to.equal('pipe failed');
    expect(ids(store.resolve('a', 'sha256:1', 'applied', null))).to.deep.equal(['r']);
    expect(stateOf(store, 'r', 'a')).to.deep.equal({ state: 'applied', signature: 'sha256:1', error: null });
    expect(store.failedCount('r')).to.equal(0);
    expect(store.awaitingCount()).to.equal(0);
  });

  it('finds the rows it waits for again after the database is reopened (a Fusion restart)', () => {
    const store = new RolloutStore(db);
    launch(store, 'r', [row('r', 'a', 'applying', 'sha256:1'), row('r', 'b', 'applying', 'sha256:2'), row('r', 'c', 'pending', null, 1)]);
    expect(ids(store.resolve('b', 'sha256:2', 'failed', 'no'))).to.deep.equal(['r']);
    db = temp.reopen();
    const reopened = new RolloutStore(db);
    expect(reopened.awaitingCount()).to.equal(2);
    expect(ids(reopened.resolve('a', 'sha256:1', 'applied', null))).to.deep.equal(['r']);
    expect(ids(reopened.resolve('b', 'sha256:2', 'applied', null))).to.deep.equal(['r']);
    expect(stateOf(reopened, 'r', 'a').state).to.equal('applied');
    expect(stateOf(reopened, 'r', 'b').state).to.equal('applied');
    expect(reopened.awaitingCount()).to.equal(0);
  });

  it('waits for a later batch once it starts, and for the new signature after a retarget', () => {
    const store = new RolloutStore(db);
    launch(store, 'r', [row('r', 'a', 'applied', 'sha256:0'), row('r', 'b', 'pending', null, 1)]);
    expect(ids(store.resolve('b', 'sha256:1', 'applied', null))).to.deep.equal([]);
    db.transaction(() => store.setAgent('r', 'b', { state: 'applying', signature: 'sha256:1', error: null, awaited: 1 }))();
    expect(store.retarget('b', 'sha256:2')).to.deep.equal(['r']);
    expect(ids(store.resolve('b', 'sha256:1', 'applied', null))).to.deep.equal([]);
    expect(stateOf(store, 'r', 'b')).to.include({ state: 'applying', signature: 'sha256:2' });
    expect(ids(store.resolve('b', 'sha256:2', 'applied', null))).to.deep.equal(['r']);
    expect(stateOf(store, 'r', 'b').state).to.equal('applied');
  });

  it('ignores a late answer of a member that left the group', () => {
    const store = new RolloutStore(db);
    launch(store, 'r', [row('r', 'a', 'applying', 'sha256:1'), row('r', 'b', 'pending', null, 1)]);
    expect(store.cancelAgent('a')).to.deep.equal(['r']);
    expect(store.cancelAgent('b')).to.deep.equal(['r']);
    expect(ids(store.resolve('a', 'sha256:1', 'applied', null))).to.deep.equal([]);
    expect(stateOf(store, 'r', 'a').state).to.equal('cancelled');
    expect(stateOf(store, 'r', 'b').state).to.equal('cancelled');
    expect(store.awaitingCount()).to.equal(0);
  });

  it('drops what it held for rows that are gone or were rolled back, changing nothing', () => {
    const store = new RolloutStore(db);
    launch(store, 'r', [row('r', 'a', 'applying', 'sha256:1')]);
    expect(() =>
      db.transaction(() => {
        store.insert(record('lost'), [row('lost', 'b', 'applying', 'sha256:2')]);
        throw new Error('the save failed');
      })(),
    ).to.throw('the save failed');
    expect(ids(store.resolve('b', 'sha256:2', 'applied', null))).to.deep.equal([]);
    db.prepare("DELETE FROM config_groups WHERE name = 'g'").run();
    expect(ids(store.resolve('a', 'sha256:1', 'applied', null))).to.deep.equal([]);
    expect(store.awaitingCount()).to.equal(0);
  });
});
