import { expect } from 'chai';
import { RawAgentClient } from '../harness/raw-client.js';
import { configSignature, validateConfig } from '../harness/protocol-imports.js';
import { sampleConfig } from '../harness/sample-config.js';
import { TestEventStream } from './event-stream-client.js';
import { INGEST_KEY, createAdminToken, openSession, revokeToken, sessionHeaders, startManagedFusion, type ManagedFusion } from './management-harness.js';

describe('management event stream', () => {
  let fusion: ManagedFusion;
  const streams: TestEventStream[] = [];
  const clients: RawAgentClient[] = [];
  const open = async (init: Parameters<typeof TestEventStream.open>[1] = { headers: { authorization: `Bearer ${fusion.adminToken}` } }): Promise<TestEventStream> => {
    const stream = await TestEventStream.open(fusion.url, init);
    streams.push(stream);
    return stream;
  };
  const agent = async (id: string): Promise<RawAgentClient> => {
    const client = await RawAgentClient.connectAs(fusion.url, id, fusion.enrollmentToken);
    clients.push(client);
    return client;
  };

  beforeEach(async () => {
    fusion = await startManagedFusion();
  });
  afterEach(async () => {
    for (const s of streams.splice(0)) s.close();
    for (const c of clients.splice(0)) c.terminate();
    await fusion.close();
  });

  it('needs a viewer token, in the Authorization header or as ?access_token=', async () => {
    const anonymous = await fetch(`${fusion.url}/api/v1/management/events`);
    expect(anonymous.status).to.equal(401);
    expect(((await anonymous.json()) as any).error.code).to.equal('unauthorized');
    const wrong = await fetch(`${fusion.url}/api/v1/management/events?access_token=nope`);
    expect(wrong.status).to.equal(401);
    await wrong.arrayBuffer();
    const viewer = await createAdminToken(fusion.home, 'viewer');
    const byQuery = await open({ query: `access_token=${encodeURIComponent(viewer.secret)}` });
    expect(byQuery.response.headers.get('content-type')).to.match(/^text\/event-stream/);
    expect(byQuery.response.headers.get('cache-control')).to.equal('no-store');
    // The query token works on the events route only.
    const dashboard = await fetch(`${fusion.url}/api/v1/management/dashboard?access_token=${encodeURIComponent(viewer.secret)}`);
    expect(dashboard.status).to.equal(401);
    await dashboard.arrayBuffer();
  });

  it('announces an agent coming online, its config saved and applied, its report, and going offline', async () => {
    const stream = await open();
    const client = await agent('node-1');
    await client.hello();
    const online = await stream.next('agent.online');
    expect(online.data.data).to.include({ agent_id: 'node-1', version: '0.0.0-test' });
    expect(online.id).to.match(new RegExp(`^[0-9a-f]{8}-${online.data.id}$`));

    const document = validateConfig(sampleConfig()) as { ok: true; config: Record<string, unknown> };
    const signature = configSignature(document.config);
    const saved = await fusion.api('/api/v1/management/agents/node-1/config/structured', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(sampleConfig()),
    });
    expect(saved.status).to.equal(201);
    expect((await stream.next('agent.config_saved')).data.data).to.deep.equal({ agent_id: 'node-1', revision: 1, signature });

    await client.next('config');
    client.send({ type: 'config_status', signature, revision: 1, status: 'applying' });
    client.send({ type: 'config_status', signature, revision: 1, status: 'failed', error: 'root missing' });
    expect((await stream.next('agent.config_status')).data.data).to.include({ status: 'applying' });
    expect((await stream.next('agent.config_status')).data.data).to.include({ status: 'failed', error: 'root missing' });

    client.send({ type: 'config_report', signature, revision: 1, source: 'remote', document: document.config });
    expect((await stream.next('agent.config_reported')).data.data).to.deep.equal({ agent_id: 'node-1', signature, source: 'remote', command_id: null });
    client.send({ type: 'status', pipes: [{ id: 'pipe-0', state: 'running', records_sent: 3, last_error: null }] });
    expect((await stream.next('agent.pipes')).data.data.pipes[0]).to.include({ id: 'pipe-0', records_sent: 3 });

    client.close();
    const offline = await stream.next('agent.offline');
    expect(offline.data.data).to.include({ agent_id: 'node-1', code: 1000 });
  });

  it('does not call a replaced connection offline', async () => {
    const stream = await open();
    const first = await agent('node-1');
    await first.hello();
    await stream.next('agent.online');
    const second = await agent('node-1');
    await second.hello();
    await stream.next('agent.online');
    await first.closed();
    second.close();
    const offline = await stream.next('agent.offline');
    expect(offline.data.data.session_id).to.not.equal(undefined);
    const offlines = stream.events.filter((e) => e.event === 'agent.offline');
    expect(offlines).to.have.length(1);
  });

  it('follows a command through its transitions', async () => {
    const stream = await open({ headers: { authorization: `Bearer ${fusion.adminToken}` }, query: 'types=command.*' });
    const client = await agent('node-1');
    await client.hello();
    const created = await fusion.api('/api/v1/management/agents/node-1/command', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'report_config' }),
    });
    const { id } = (await created.json()) as any;
    const frame = await client.next('command');
    client.send({ type: 'command_ack', command_id: frame.command_id });
    client.send({ type: 'command_result', command_id: frame.command_id, status: 'succeeded', output: { ok: true } });
    const statuses: string[] = [];
    while (statuses.at(-1) !== 'succeeded') {
      const event = await stream.next('command.transition');
      expect(event.data.data).to.include({ id, agent_id: 'node-1', type: 'report_config' });
      statuses.push(event.data.data.status);
    }
    expect(statuses).to.deep.equal(['queued', 'sent', 'acknowledged', 'succeeded']);
    // The filter let nothing else through (agent.online happened meanwhile).
    expect(stream.events.filter((e) => e.event !== 'ready' && !e.event.startsWith('command.'))).to.deep.equal([]);
  });

  it('announces ingest sessions opening and ending, with the leader', async () => {
    const stream = await open({ headers: { authorization: `Bearer ${fusion.adminToken}` }, query: 'types=session.*' });
    const first = await openSession(fusion.url, INGEST_KEY, 'node-1', 'research');
    expect(first.status).to.equal(201);
    const created = await stream.next('session.created');
    expect(created.data.data).to.include({ session_id: first.body.session_id, agent_id: 'node-1', agent_pipe_id: 'research', pipe_id: 'main', role: 'leader' });
    expect((await stream.next('session.leader_changed')).data.data).to.deep.equal({ view_id: 'tree', session_id: first.body.session_id, previous_session_id: null });
    const second = await openSession(fusion.url, INGEST_KEY, 'node-2', 'research');
    expect((await stream.next('session.created')).data.data).to.include({ session_id: second.body.session_id, role: 'follower' });

    const closed = await fetch(`${fusion.url}/api/v1/pipe/sessions/${first.body.session_id}`, { method: 'DELETE', headers: sessionHeaders(INGEST_KEY, first.body.session_id) });
    expect(closed.status).to.equal(204);
    expect((await stream.next('session.closed')).data.data).to.include({ session_id: first.body.session_id, reason: 'closed' });
    expect((await stream.next('session.leader_changed')).data.data).to.deep.equal({
      view_id: 'tree',
      session_id: second.body.session_id,
      previous_session_id: first.body.session_id,
    });
  });

  it('replays what a reconnecting client missed after Last-Event-ID', async () => {
    const live = await open();
    const client = await agent('node-1');
    await client.hello();
    const online = await live.next('agent.online');
    client.close();
    await live.next('agent.offline');
    const other = await agent('node-2');
    await other.hello();
    await live.next('agent.online');

    const resumed = await open({ headers: { authorization: `Bearer ${fusion.adminToken}`, 'last-event-id': String(online.id) } });
    const replayed = resumed.events.filter((e) => e.event.startsWith('agent.'));
    expect(replayed.map((e) => `${e.event}:${e.data.data.agent_id}`)).to.deep.equal(['agent.offline:node-1', 'agent.online:node-2']);
    expect(replayed.map((e) => e.data.id)).to.deep.equal([online.data.id + 1, online.data.id + 2]);

    // An id from another Fusion process (restarted since) cannot be replayed: the client is told to refetch.
    const instance = online.id!.split('-')[0]!;
    const stale = await open({ headers: { authorization: `Bearer ${fusion.adminToken}`, 'last-event-id': `${instance === 'deadbeef' ? 'feedface' : 'deadbeef'}-3` } });
    expect(stale.events.map((e) => e.event)).to.deep.equal(['resync', 'ready']);
    expect(stale.events[0]!.data.last_event_id).to.equal(`${instance}-${online.data.id + 2}`);

    const tooOld = await fusion.api('/api/v1/management/events?last_event_id=-4');
    expect(tooOld.status).to.equal(400);
    await tooOld.arrayBuffer();
  });

  it('ends the stream when the token is revoked, and when Fusion stops', async () => {
    const viewer = await createAdminToken(fusion.home, 'viewer');
    const revoked = await open({ headers: { authorization: `Bearer ${viewer.secret}` } });
    const kept = await open();
    await revokeToken(fusion.home, viewer.id);
    const error = await revoked.next('error');
    expect(error.data).to.include({ code: 'unauthorized' });
    await revoked.closed();
    expect(kept.ended).to.equal(false);

    const client = await agent('node-1');
    await client.hello();
    await kept.next('agent.online');
    await fusion.server.stop();
    // The agent's planned-shutdown offline event still goes out before the stream ends.
    expect((await kept.next('agent.offline')).data.data).to.include({ agent_id: 'node-1', code: 4006 });
    await kept.closed();
  });
});
