import { expect } from 'chai';
import { SessionRegistry, type LeaderChange, type SessionInfo, type SessionSpec } from '../../server/dataplane/index.js';
import { eventually } from '../harness/eventually.js';

function spec(agentId: string, viewIds: string[], overrides: Partial<SessionSpec> = {}): SessionSpec {
  return { agentId, agentPipeId: 'p', pipeId: 'pipe', receiverId: 'r', viewIds, timeoutMs: 30_000, ...overrides };
}

describe('dataplane sessions', () => {
  let clock: number;
  let registry: SessionRegistry;

  beforeEach(() => {
    clock = 1_000_000;
    registry = new SessionRegistry({ now: () => clock });
  });
  afterEach(() => registry.stop());

  it('makes the first session of a view its leader and fails over to the next oldest', () => {
    const changes: LeaderChange[] = [];
    const closed: string[] = [];
    registry.on('leader_changed', (c) => changes.push(c));
    registry.on('session_closed', (s) => closed.push(`${s.agent_id}:${s.reason}`));
    const first = registry.open(spec('a1', ['v']));
    const second = registry.open(spec('a2', ['v']));
    const third = registry.open(spec('a3', ['v']));
    expect([first.role, second.role, third.role]).to.deep.equal(['leader', 'follower', 'follower']);
    expect(changes).to.deep.equal([{ view_id: 'v', session_id: first.session_id, previous_session_id: null }]);

    registry.close(first.session_id, 'closed');
    expect(registry.touch(second.session_id)).to.equal('leader');
    expect(registry.touch(third.session_id)).to.equal('follower');
    expect(registry.leaderOf('v')).to.equal(second.session_id);
    expect(changes[1]).to.deep.equal({ view_id: 'v', session_id: second.session_id, previous_session_id: first.session_id });
    expect(closed).to.deep.equal(['a1:closed']);

    registry.close(third.session_id, 'closed');
    expect(changes).to.have.lengthOf(2);
    registry.close(second.session_id, 'closed');
    expect(changes[2]).to.deep.equal({ view_id: 'v', session_id: null, previous_session_id: second.session_id });
    expect(registry.touch(second.session_id)).to.equal(undefined);
  });

  it('leads per view: a session is leader when it leads any of its views', () => {
    const shared = registry.open(spec('a1', ['shared']));
    const both = registry.open(spec('a2', ['shared', 'solo']));
    expect(both.role).to.equal('leader');
    expect(both.leader_of).to.deep.equal(['solo']);
    expect(shared.leader_of).to.deep.equal(['shared']);
  });

  it('tracks age, idleness, events pushed and scan progress', () => {
    const session = registry.open(spec('a1', ['v'], { sourceUri: '/data' }));
    clock += 4000;
    registry.recordBatch(session.session_id, 10, { id: 's1' });
    clock += 1000;
    registry.recordBatch(session.session_id, 5, { id: 's1', done: true });
    clock += 2500;
    const info = registry.get(session.session_id) as SessionInfo;
    expect(info).to.include({ agent_id: 'a1', source_uri: '/data', events_pushed: 15, age_seconds: 7.5, idle_seconds: 2.5 });
    expect(info.last_scan).to.deep.equal({ id: 's1', events: 15, done: true, started_at: 1_004_000, finished_at: 1_005_000 });
    expect(registry.list().map((s) => s.session_id)).to.deep.equal([session.session_id]);
  });

  it('ends a session silent past its timeout and promotes the next one', () => {
    const quiet = registry.open(spec('a1', ['v'], { timeoutMs: 1000 }));
    const busy = registry.open(spec('a2', ['v'], { timeoutMs: 1000 }));
    const reasons: string[] = [];
    registry.on('session_closed', (s) => reasons.push(s.reason));
    clock += 800;
    registry.touch(busy.session_id);
    clock += 300;
    registry.sweep();
    expect(registry.get(quiet.session_id)).to.equal(undefined);
    expect(registry.get(busy.session_id)!.role).to.equal('leader');
    expect(reasons).to.deep.equal(['timeout']);
  });

  it('sweeps on its own timer', async () => {
    const real = new SessionRegistry();
    try {
      const session = real.open(spec('a1', ['v'], { timeoutMs: 30 }));
      real.startSweeping(10);
      await eventually(() => real.get(session.session_id) === undefined, { timeoutMs: 2000 });
    } finally {
      real.stop();
    }
  });

  it('reconciles a reload: closes, re-points and re-elects', () => {
    const a = registry.open(spec('a1', ['v1'], { pipeId: 'gone' }));
    const b = registry.open(spec('a2', ['v1'], { pipeId: 'kept' }));
    const closed: string[] = [];
    registry.on('session_closed', (s) => closed.push(`${s.pipe_id}:${s.reason}`));
    registry.reconcile((s) => (s.pipeId === 'gone' ? { close: 'pipe_removed' } : { viewIds: ['v2'], timeoutMs: 5000 }));
    expect(closed).to.deep.equal(['gone:pipe_removed']);
    expect(registry.get(a.session_id)).to.equal(undefined);
    expect(registry.get(b.session_id)).to.include({ role: 'leader' }).and.have.deep.property('view_ids', ['v2']);
    expect(registry.leaderOf('v1')).to.equal(undefined);
    expect(registry.leaderOf('v2')).to.equal(b.session_id);
  });

  it('survives a throwing listener', () => {
    registry.on('session_created', () => {
      throw new Error('listener bug');
    });
    const session = registry.open(spec('a1', ['v']));
    expect(registry.get(session.session_id)).to.not.equal(undefined);
  });

  it('ends every session on stop', () => {
    const reasons: string[] = [];
    registry.on('session_closed', (s) => reasons.push(s.reason));
    registry.open(spec('a1', ['v']));
    registry.open(spec('a2', ['v']));
    registry.stop();
    expect(reasons).to.deep.equal(['shutdown', 'shutdown']);
    expect(registry.size).to.equal(0);
  });
});
