import { expect } from 'chai';
import { MAX_EVENTS_PER_BATCH } from '../../server/dataplane/index.js';
import { eventually } from '../harness/eventually.js';
import { KEY_A, KEY_B, record, startDataPlane, twoPipeConfig, VIEW_KEY, type DataPlaneHarness } from './dataplane-harness.js';

describe('dataplane ingest over HTTP', () => {
  let fusion: DataPlaneHarness | undefined;
  afterEach(async () => {
    await fusion?.close();
    fusion = undefined;
  });

  async function openSession(key: string, agentId = 'node-1', pipeId = 'scan-home') {
    const res = await fusion!.request('POST', '/api/v1/pipe/sessions', { key, body: { agent_id: agentId, pipe_id: pipeId, source_uri: '/srv/data' } });
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    return res.body as { session_id: string; role: string; view_ids: string[]; pipe_id: string; session_token: string };
  }

  it('accepts the generated key of a default config: session, heartbeat, events, tree, stats, close', async () => {
    fusion = await startDataPlane();
    const key = fusion.plane.generatedApiKey!;
    expect(key).to.have.lengthOf(32);

    const opened = await fusion.request('POST', '/api/v1/pipe/sessions', { key, body: { agent_id: 'node-1', pipe_id: 'home' } });
    expect(opened.status).to.equal(201);
    expect(opened.body).to.include({ pipe_id: 'default', role: 'leader', session_timeout_seconds: 30, heartbeat_interval_seconds: 10 });
    expect(opened.body.view_ids).to.deep.equal(['default']);
    expect(opened.body.session_id).to.be.a('string');
    const base = `/api/v1/pipe/sessions/${opened.body.session_id}`;

    const beat = await fusion.request('POST', `${base}/heartbeat`, { key });
    expect(beat).to.include({ status: 200 }).and.have.deep.property('body', { role: 'leader' });

    const pushed = await fusion.request('POST', `${base}/events`, {
      key,
      body: {
        events: [record('upsert', '', { type: 'dir', size: 4096 }), record('upsert', 'docs', { type: 'dir' }), record('upsert', 'docs/a.txt', { size: 100 }), record('upsert', 'docs/b.txt', { size: 50 }), record('upsert', 'top.bin', { size: 7 })],
        scan: { id: 'scan-1' },
      },
    });
    expect(pushed).to.include({ status: 200 }).and.have.deep.property('body', { accepted: 5 });
    const deleted = await fusion.request('POST', `${base}/events`, { key, body: { events: [record('delete', 'docs/b.txt')], scan: { id: 'scan-1', done: true } } });
    expect(deleted.body).to.deep.equal({ accepted: 1, removed: 0 });

    const stats = await fusion.request('GET', '/api/v1/views/default/stats', { key });
    expect(stats.status).to.equal(200);
    expect(stats.body).to.include({ files: 2, dirs: 1, total_bytes: 107 });
    expect(stats.body.last_event_at).to.be.a('number');

    const tree = await fusion.request('GET', '/api/v1/views/default/tree?path=/docs&recursive=true', { key });
    expect(tree.status).to.equal(200);
    expect(tree.body).to.deep.include({ name: 'docs', path: 'docs', type: 'dir' });
    expect(tree.body.children).to.deep.equal([{ name: 'a.txt', path: 'docs/a.txt', type: 'file', size: 100, mtime_ms: 1_700_000_000_000, mode: 0o100644 }]);
    const root = await fusion.request('GET', '/api/v1/views/default/tree', { key });
    expect(root.body).to.include({ path: '', size: 4096 });
    expect(root.body.children.map((c: { name: string }) => c.name)).to.deep.equal(['docs', 'top.bin']);
    const missing = await fusion.request('GET', '/api/v1/views/default/tree?path=nope', { key });
    expect(missing.status).to.equal(404);
    expect(missing.body.error.code).to.equal('path_not_found');

    const listed = fusion.plane.sessions.list();
    expect(listed).to.have.lengthOf(1);
    expect(listed[0]).to.include({ agent_id: 'node-1', agent_pipe_id: 'home', pipe_id: 'default', events_pushed: 6, role: 'leader' });
    expect(listed[0]!.last_scan).to.include({ id: 'scan-1', events: 6, done: true });

    const closed = await fusion.request('DELETE', base, { key });
    expect(closed.status).to.equal(204);
    const after = await fusion.request('POST', `${base}/heartbeat`, { key });
    expect(after.status).to.equal(404);
    expect(after.body.error.code).to.equal('session_not_found');
    expect(fusion.plane.sessions.size).to.equal(0);
  });

  it('lets only the opener of a session push into, heartbeat or close it, though others hold the same key and see its id', async () => {
    fusion = await startDataPlane({ config: twoPipeConfig() });
    const session = await openSession(KEY_A);
    expect(session.session_token).to.be.a('string');
    // A view reader sees the session id; a second sender holds the same pipe key.
    const listed = await fusion.request('GET', '/api/v1/views/shared/sessions', { key: VIEW_KEY });
    expect(listed.body.sessions.map((s: any) => s.session_id)).to.include(session.session_id);
    expect(JSON.stringify(listed.body)).to.not.include(session.session_token);
    const base = `/api/v1/pipe/sessions/${session.session_id}`;
    for (const sessionToken of [null, 'forged-token']) {
      const pushed = await fusion.request('POST', `${base}/events`, { key: KEY_A, sessionToken, body: { events: [record('upsert', 'intruder')] } });
      expect(pushed.status).to.equal(404);
      expect(pushed.body.error.code).to.equal('session_not_found');
      expect((await fusion.request('POST', `${base}/heartbeat`, { key: KEY_A, sessionToken })).status).to.equal(404);
      expect((await fusion.request('DELETE', base, { key: KEY_A, sessionToken })).status).to.equal(404);
    }
    expect((await fusion.request('GET', '/api/v1/views/shared/stats', { key: VIEW_KEY })).body.files).to.equal(0);
    expect((await fusion.request('POST', `${base}/events`, { key: KEY_A, body: { events: [record('upsert', 'mine')] } })).status).to.equal(200);
    expect((await fusion.request('DELETE', base, { key: KEY_A })).status).to.equal(204);
  });

  it('answers 401 for a missing or unknown key, and a session only to a key of its own pipe', async () => {
    fusion = await startDataPlane({ config: twoPipeConfig() });
    const none = await fusion.request('POST', '/api/v1/pipe/sessions', { body: { agent_id: 'n', pipe_id: 'p' } });
    expect(none.status).to.equal(401);
    expect(none.body.error.code).to.equal('unauthorized');
    const wrong = await fusion.request('POST', '/api/v1/pipe/sessions', { key: 'key-a-0123456788', body: { agent_id: 'n', pipe_id: 'p' } });
    expect(wrong.status).to.equal(401);
    const viewKeyForIngest = await fusion.request('POST', '/api/v1/pipe/sessions', { key: VIEW_KEY, body: { agent_id: 'n', pipe_id: 'p' } });
    expect(viewKeyForIngest.status).to.equal(401);

    const session = await openSession(KEY_A);
    const foreign = await fusion.request('POST', `/api/v1/pipe/sessions/${session.session_id}/heartbeat`, { key: KEY_B });
    expect(foreign.status).to.equal(404);

    expect((await fusion.request('GET', '/api/v1/views/shared/stats')).status).to.equal(401);
    expect((await fusion.request('GET', '/api/v1/views/shared/stats', { key: 'nope' })).status).to.equal(401);
    expect((await fusion.request('GET', '/api/v1/views/shared/stats', { key: VIEW_KEY })).status).to.equal(200);
    expect((await fusion.request('GET', '/api/v1/views/shared/stats', { key: KEY_B })).status).to.equal(200);
    // pipe-b does not feed `solo`, and the view key belongs to `shared` only.
    expect((await fusion.request('GET', '/api/v1/views/solo/stats', { key: KEY_B })).status).to.equal(401);
    expect((await fusion.request('GET', '/api/v1/views/solo/stats', { key: VIEW_KEY })).status).to.equal(401);
    expect((await fusion.request('GET', '/api/v1/views/solo/stats', { key: KEY_A })).status).to.equal(200);
    const unknownView = await fusion.request('GET', '/api/v1/views/elsewhere/stats', { key: KEY_A });
    expect(unknownView.status).to.equal(404);
    expect(unknownView.body.error.code).to.equal('view_not_found');
  });

  it('answers 400 listing every problem of a bad body, applying nothing of the batch', async () => {
    fusion = await startDataPlane({ config: twoPipeConfig() });
    const badOpen = await fusion.request('POST', '/api/v1/pipe/sessions', { key: KEY_A, body: { agent_id: '../etc' } });
    expect(badOpen.status).to.equal(400);
    expect(badOpen.body.error.code).to.equal('invalid_request');
    expect(badOpen.body.error.details.map((d: { path: string }) => d.path)).to.have.members(['agent_id', 'pipe_id']);

    const notJson = await fusion.request('POST', '/api/v1/pipe/sessions', { key: KEY_A, rawBody: '{"agent_id":' });
    expect(notJson.status).to.equal(400);
    expect(notJson.body.error.code).to.equal('invalid_json');

    const session = await openSession(KEY_A);
    const events = `/api/v1/pipe/sessions/${session.session_id}/events`;
    const badBatch = await fusion.request('POST', events, {
      key: KEY_A,
      body: { events: [record('upsert', 'fine.txt'), record('upsert', '/abs'), { ...record('upsert', 'x'), size: -1 }, record('upsert', 'a/../b'), { ...record('upsert', 'y'), type: 'pipe' }, record('upsert', '', { type: 'file' })] },
    });
    expect(badBatch.status).to.equal(400);
    expect(badBatch.body.error.details.map((d: { path: string }) => d.path)).to.have.members(['events.1.path', 'events.2.size', 'events.3.path', 'events.4.type', 'events.5.type']);
    const stats = await fusion.request('GET', '/api/v1/views/shared/stats', { key: KEY_A });
    expect(stats.body).to.deep.equal({ files: 0, dirs: 0, total_bytes: 0, last_event_at: null });

    const badQuery = await fusion.request('GET', '/api/v1/views/shared/tree?path=a/../b&max_depth=-1', { key: KEY_A });
    expect(badQuery.status).to.equal(400);
    expect(badQuery.body.error.details.map((d: { path: string }) => d.path)).to.have.members(['path', 'max_depth']);
  });

  it('answers 413 for more events than one batch may carry', async () => {
    fusion = await startDataPlane({ config: twoPipeConfig() });
    const session = await openSession(KEY_A);
    const events = Array.from({ length: MAX_EVENTS_PER_BATCH + 1 }, (_, i) => record('upsert', `f${i}`));
    const res = await fusion.request('POST', `/api/v1/pipe/sessions/${session.session_id}/events`, { key: KEY_A, body: { events } });
    expect(res.status).to.equal(413);
    expect(res.body.error.code).to.equal('too_many_events');
    const full = await fusion.request('POST', `/api/v1/pipe/sessions/${session.session_id}/events`, { key: KEY_A, body: { events: events.slice(1) } });
    expect(full.body).to.deep.equal({ accepted: MAX_EVENTS_PER_BATCH });
  });

  it('applies a batch to every view of the pipe', async () => {
    fusion = await startDataPlane({ config: twoPipeConfig() });
    const a = await openSession(KEY_A);
    const b = await openSession(KEY_B, 'node-2');
    await fusion.request('POST', `/api/v1/pipe/sessions/${a.session_id}/events`, { key: KEY_A, body: { events: [record('upsert', 'from-a', { size: 1 })] } });
    await fusion.request('POST', `/api/v1/pipe/sessions/${b.session_id}/events`, { key: KEY_B, body: { events: [record('upsert', 'from-b', { size: 2 })] } });
    expect((await fusion.request('GET', '/api/v1/views/shared/stats', { key: VIEW_KEY })).body).to.include({ files: 2, total_bytes: 3 });
    expect((await fusion.request('GET', '/api/v1/views/solo/stats', { key: KEY_A })).body).to.include({ files: 1, total_bytes: 1 });
  });

  it('ends a silent session after the receiver timeout; the sender then gets session_not_found', async () => {
    fusion = await startDataPlane({ config: twoPipeConfig({ sessionTimeoutSeconds: 0.2, heartbeatSeconds: 0.05 }) });
    const session = await openSession(KEY_A);
    const closed: string[] = [];
    fusion.plane.sessions.on('session_closed', (s) => closed.push(s.reason));
    await eventually(() => fusion!.plane.sessions.size === 0, { timeoutMs: 3000 });
    expect(closed).to.deep.equal(['timeout']);
    const res = await fusion.request('POST', `/api/v1/pipe/sessions/${session.session_id}/heartbeat`, { key: KEY_A });
    expect(res.status).to.equal(404);
    expect(res.body.error.code).to.equal('session_not_found');
  });

  it('fails leadership over to the next oldest session when the leader goes silent', async () => {
    fusion = await startDataPlane({ config: twoPipeConfig({ sessionTimeoutSeconds: 0.3, heartbeatSeconds: 0.05 }) });
    const leader = await openSession(KEY_B, 'node-1');
    const follower = await openSession(KEY_B, 'node-2');
    expect([leader.role, follower.role]).to.deep.equal(['leader', 'follower']);
    const beat = () => fusion!.request('POST', `/api/v1/pipe/sessions/${follower.session_id}/heartbeat`, { key: KEY_B });
    expect((await beat()).body.role).to.equal('follower');
    // Only the follower keeps heartbeating; the silent leader times out and the follower takes over.
    await eventually(async () => (await beat()).body.role === 'leader', { timeoutMs: 3000, intervalMs: 50 });
    expect(fusion.plane.sessions.get(leader.session_id)).to.equal(undefined);
    expect(fusion.plane.sessions.list().map((s) => [s.agent_id, s.role])).to.deep.equal([['node-2', 'leader']]);
  });

  it('fails leadership over at once when the leader closes its session', async () => {
    fusion = await startDataPlane({ config: twoPipeConfig() });
    const leader = await openSession(KEY_A, 'node-1');
    const follower = await openSession(KEY_B, 'node-2');
    expect(follower.role).to.equal('follower');
    expect((await fusion.request('DELETE', `/api/v1/pipe/sessions/${leader.session_id}`, { key: KEY_A })).status).to.equal(204);
    const beat = await fusion.request('POST', `/api/v1/pipe/sessions/${follower.session_id}/heartbeat`, { key: KEY_B });
    expect(beat.body).to.deep.equal({ role: 'leader' });
  });
});
