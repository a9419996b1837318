import { expect } from 'chai';
import { FusionConfigError, writeFusionConfig, type FusionConfig } from '../../server/dataplane/index.js';
import { eventually } from '../harness/eventually.js';
import { KEY_A, KEY_B, record, startDataPlane, twoPipeConfig, type DataPlaneHarness } from './dataplane-harness.js';

describe('dataplane reload', () => {
  let fusion: DataPlaneHarness | undefined;
  afterEach(async () => {
    await fusion?.close();
    fusion = undefined;
  });

  async function openSession(key: string, agentId: string) {
    const res = await fusion!.request('POST', '/api/v1/pipe/sessions', { key, body: { agent_id: agentId, pipe_id: 'local' } });
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    return res.body as { session_id: string; role: string };
  }

  it('adds a view and removes a pipe without a restart; views that stay keep their data', async () => {
    fusion = await startDataPlane({ config: twoPipeConfig() });
    const a = await openSession(KEY_A, 'node-1');
    const b = await openSession(KEY_B, 'node-2');
    expect(b.role).to.equal('follower');
    await fusion.request('POST', `/api/v1/pipe/sessions/${b.session_id}/events`, { key: KEY_B, body: { events: [record('upsert', 'kept.txt', { size: 9 })] } });

    const closed: string[] = [];
    fusion.plane.sessions.on('session_closed', (s) => closed.push(`${s.agent_id}:${s.reason}`));
    const next = twoPipeConfig();
    delete next.pipes['pipe-a'];
    next.receivers.main!.api_keys = next.receivers.main!.api_keys.filter((k) => k.pipe_id !== 'pipe-a');
    next.views.archive = { driver: 'fs' };
    next.pipes['pipe-b']!.views = ['shared', 'archive'];
    fusion.plane.reload(next);

    expect(closed).to.deep.equal(['node-1:pipe_removed']);
    expect(Object.keys(fusion.plane.config.pipes)).to.deep.equal(['pipe-b']);
    expect(fusion.plane.views.ids()).to.have.members(['shared', 'solo', 'archive']);
    // The removed pipe's session is gone and its key no longer opens anything.
    expect((await fusion.request('POST', `/api/v1/pipe/sessions/${a.session_id}/heartbeat`, { key: KEY_A })).status).to.equal(401);
    expect((await fusion.request('POST', '/api/v1/pipe/sessions', { key: KEY_A, body: { agent_id: 'node-1', pipe_id: 'local' } })).status).to.equal(401);
    // The surviving session took over the shared view and now also feeds the new one.
    const beat = await fusion.request('POST', `/api/v1/pipe/sessions/${b.session_id}/heartbeat`, { key: KEY_B });
    expect(beat.body).to.deep.equal({ role: 'leader' });
    expect(fusion.plane.sessions.get(b.session_id)!.view_ids).to.deep.equal(['shared', 'archive']);
    await fusion.request('POST', `/api/v1/pipe/sessions/${b.session_id}/events`, { key: KEY_B, body: { events: [record('upsert', 'new.txt', { size: 1 })] } });
    expect((await fusion.request('GET', '/api/v1/views/archive/stats', { key: KEY_B })).body).to.include({ files: 1, total_bytes: 1 });
    expect((await fusion.request('GET', '/api/v1/views/shared/stats', { key: KEY_B })).body).to.include({ files: 2, total_bytes: 10 });

    // Removing a view drops it and its data.
    const smaller = structuredClone(next);
    delete smaller.views.solo;
    fusion.plane.reload(smaller);
    expect(fusion.plane.views.ids()).to.have.members(['shared', 'archive']);
    expect((await fusion.request('GET', '/api/v1/views/solo/stats', { key: KEY_B })).status).to.equal(404);
  });

  it('refuses an invalid config and keeps the one in force', async () => {
    fusion = await startDataPlane({ config: twoPipeConfig() });
    const session = await openSession(KEY_A, 'node-1');
    const broken = { ...twoPipeConfig(), pipes: { 'pipe-a': { receiver: 'nobody', views: ['shared'] } } } as unknown as FusionConfig;
    let caught: unknown;
    try {
      fusion.plane.reload(broken);
    } catch (err) {
      caught = err;
    }
    expect(caught).to.be.instanceOf(FusionConfigError);
    expect((caught as FusionConfigError).issues.map((i) => i.path)).to.include('pipes.pipe-a.receiver');
    expect(Object.keys(fusion.plane.config.pipes)).to.deep.equal(['pipe-a', 'pipe-b']);
    expect((await fusion.request('POST', `/api/v1/pipe/sessions/${session.session_id}/heartbeat`, { key: KEY_A })).status).to.equal(200);
  });

  it('ends the sessions of a disabled pipe and refuses new ones with pipe_disabled', async () => {
    fusion = await startDataPlane({ config: twoPipeConfig() });
    const session = await openSession(KEY_A, 'node-1');
    const next = twoPipeConfig();
    next.pipes['pipe-a']!.disabled = true;
    fusion.plane.reload(next);
    const beat = await fusion.request('POST', `/api/v1/pipe/sessions/${session.session_id}/heartbeat`, { key: KEY_A });
    expect(beat.status).to.equal(404);
    const reopen = await fusion.request('POST', '/api/v1/pipe/sessions', { key: KEY_A, body: { agent_id: 'node-1', pipe_id: 'local' } });
    expect(reopen.status).to.equal(403);
    expect(reopen.body.error.code).to.equal('pipe_disabled');
  });

  it('reloads fusion.yaml from disk, applying a new receiver timeout to open sessions', async () => {
    fusion = await startDataPlane({ config: twoPipeConfig() });
    const session = await openSession(KEY_B, 'node-2');
    await writeFusionConfig(fusion.home, twoPipeConfig({ sessionTimeoutSeconds: 0.2, heartbeatSeconds: 0.05 }));
    const applied = await fusion.plane.reloadFromDisk();
    expect(applied.receivers.main!.session_timeout_seconds).to.equal(0.2);
    const opened = await fusion.request('POST', '/api/v1/pipe/sessions', { key: KEY_A, body: { agent_id: 'node-3', pipe_id: 'local' } });
    expect(opened.body).to.include({ session_timeout_seconds: 0.2, heartbeat_interval_seconds: 0.05 });
    // The silent session now times out under the new, shorter timeout.
    await eventually(() => fusion!.plane.sessions.get(session.session_id) === undefined, { timeoutMs: 3000 });
  });
});
