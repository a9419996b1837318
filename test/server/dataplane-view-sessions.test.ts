import { expect } from 'chai';
import { KEY_A, KEY_B, VIEW_KEY, record, startDataPlane, twoPipeConfig, type DataPlaneHarness } from './dataplane-harness.js';

describe('dataplane: sessions of a view (GET /api/v1/views/:view_id/sessions)', () => {
  let fusion: DataPlaneHarness;

  beforeEach(async () => {
    fusion = await startDataPlane({ config: twoPipeConfig() });
  });
  afterEach(() => fusion.close());

  async function open(key: string, agentId: string): Promise<string> {
    const res = await fusion.request('POST', '/api/v1/pipe/sessions', { key, body: { agent_id: agentId, pipe_id: 'p', source_uri: `/data/${agentId}` } });
    expect(res.status).to.equal(201);
    return res.body.session_id as string;
  }

  it('lists the sessions feeding the view, oldest first, with their role in that view', async () => {
    const b = await open(KEY_B, 'agent-b');
    const a = await open(KEY_A, 'agent-a');
    const pushed = await fusion.request('POST', `/api/v1/pipe/sessions/${a}/events`, { key: KEY_A, body: { events: [record('upsert', 'x')] } });
    expect(pushed.status).to.equal(200);

    const shared = await fusion.request('GET', '/api/v1/views/shared/sessions', { key: VIEW_KEY });
    expect(shared.status).to.equal(200);
    expect(shared.body.view_id).to.equal('shared');
    expect(shared.body.leader_session_id).to.equal(b);
    expect(shared.body.sessions.map((s: any) => [s.session_id, s.agent_id, s.role])).to.deep.equal([
      [b, 'agent-b', 'leader'],
      // agent-a leads `solo`, yet in `shared` it follows agent-b.
      [a, 'agent-a', 'follower'],
    ]);
    const listedA = shared.body.sessions[1];
    expect(listedA).to.include({ pipe_id: 'pipe-a', agent_pipe_id: 'p', receiver_id: 'main', source_uri: '/data/agent-a', events_pushed: 1 });
    expect(listedA.leader_of).to.deep.equal(['solo']);
    expect(listedA.age_seconds).to.be.a('number').and.at.least(0);
    expect(listedA.idle_seconds).to.be.a('number').and.at.least(0);

    // A receiver key opens the views its pipe feeds: pipe-a's key sees `solo`, where agent-a leads.
    const solo = await fusion.request('GET', '/api/v1/views/solo/sessions', { key: KEY_A });
    expect(solo.status).to.equal(200);
    expect(solo.body.sessions.map((s: any) => [s.agent_id, s.role])).to.deep.equal([['agent-a', 'leader']]);

    // The leader leaves: the next oldest takes over, and the listing says so at once.
    const closed = await fusion.request('DELETE', `/api/v1/pipe/sessions/${b}`, { key: KEY_B });
    expect(closed.status).to.equal(204);
    const after = await fusion.request('GET', '/api/v1/views/shared/sessions', { key: VIEW_KEY });
    expect(after.body.leader_session_id).to.equal(a);
    expect(after.body.sessions.map((s: any) => [s.agent_id, s.role])).to.deep.equal([['agent-a', 'leader']]);
  });

  it('answers an empty list for a view nobody feeds, and refuses keys and views like the other view routes', async () => {
    const empty = await fusion.request('GET', '/api/v1/views/shared/sessions', { key: VIEW_KEY });
    expect(empty.status).to.equal(200);
    expect(empty.body).to.deep.equal({ view_id: 'shared', leader_session_id: null, sessions: [] });

    const missing = await fusion.request('GET', '/api/v1/views/shared/sessions');
    expect(missing.status).to.equal(401);
    expect(missing.body.error.code).to.equal('unauthorized');
    // pipe-b does not feed `solo`, so its key does not open it.
    const wrong = await fusion.request('GET', '/api/v1/views/solo/sessions', { key: KEY_B });
    expect(wrong.status).to.equal(401);
    const unknown = await fusion.request('GET', '/api/v1/views/nope/sessions', { key: VIEW_KEY });
    expect(unknown.status).to.equal(404);
    expect(unknown.body.error.code).to.equal('view_not_found');
  });
});
