import { expect } from 'chai';
import { AGENT_DRIVERS } from '../../shared/config/index.js';
import { FUSION_DRIVERS } from '../../server/dataplane/index.js';
import { eventually } from '../harness/eventually.js';
import { RawAgentClient } from '../harness/raw-client.js';
import { configSignature, validateConfig } from '../harness/protocol-imports.js';
import { sampleConfig } from '../harness/sample-config.js';
import { FUSION_YAML, INGEST_KEY, createAdminToken, getJson, openSession, pushEvents, startManagedFusion, type ManagedFusion } from './management-harness.js';

/** FUSION_YAML plus a disabled pipe and a pipe no API key feeds. */
const YAML_WITH_IDLE_PIPES = `${FUSION_YAML}  paused:
    receiver: main
    views: [tree]
    disabled: true
  orphan:
    receiver: main
    views: [tree]
`;

describe('management dashboard and drivers', () => {
  let fusion: ManagedFusion;
  const clients: RawAgentClient[] = [];

  beforeEach(async () => {
    fusion = await startManagedFusion({ yaml: YAML_WITH_IDLE_PIPES, driftGraceMs: 0 });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.terminate();
    await fusion.close();
  });

  it('shows agents with status, address, sessions, desired / applied / reported signatures and drift', async () => {
    const document = (validateConfig(sampleConfig()) as { ok: true; config: Record<string, unknown> }).config;
    const desired = configSignature(document);
    const saved = await fusion.api('/api/v1/management/agents/node-1/config/structured', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(sampleConfig()),
    });
    expect(saved.status).to.equal(201);
    const client = await RawAgentClient.connectAs(fusion.url, 'node-1', fusion.enrollmentToken);
    clients.push(client);
    await client.hello();
    await client.next('config');
    client.send({ type: 'config_status', signature: desired, revision: 1, status: 'applied' });
    const session = await openSession(fusion.url, INGEST_KEY, 'node-1', 'research');
    expect(await pushEvents(fusion.url, INGEST_KEY, session.body.session_id, ['x', 'y', 'z'])).to.equal(200);

    const agentView = async () => (await getJson(fusion, '/api/v1/management/agents/node-1')).body;
    const totals = async () => (await getJson(fusion, '/api/v1/management/dashboard')).body.totals;
    const agent = await eventually(async () => {
      const body = await agentView();
      return body.config.status === 'applied' && body;
    });
    expect(agent).to.deep.include({ agent_id: 'node-1', status: 'online', online: true, transport: 'websocket', version: '0.0.0-test', hostname: 'test-host', drift: false });
    expect(agent.address).to.be.a('string');
    expect(agent.last_seen).to.be.a('number');
    expect(agent.config).to.include({ desired_signature: desired, desired_revision: 1, applied_signature: desired, reported_signature: null });
    // The dashboard counts agents by state instead of listing them.
    const applied = await eventually(async () => {
      const t = await totals();
      return t.online === 1 && t;
    });
    expect(applied).to.deep.include({ agents: 1, online: 1, offline: 0, inactive: 0, drift: 0, config_failed: 0, sessions: 1, views: 1 });
    expect(applied.health).to.deep.equal({ healthy: 1, degraded: 0, unhealthy: 0 });
    expect((await getJson(fusion, '/api/v1/management/dashboard')).body).to.not.have.property('agents');

    // A report newer than what the agent last said it runs, that differs from the desired config, is drift.
    const other = (validateConfig(sampleConfig({ pipes: 2 })) as { ok: true; config: Record<string, unknown> }).config;
    client.send({ type: 'config_report', signature: configSignature(other), revision: 1, source: 'remote', document: other });
    const drifted = await eventually(async () => {
      const body = await agentView();
      return body.drift === true && body;
    });
    expect(drifted.config.reported_signature).to.equal(configSignature(other));
    expect(drifted.health).to.deep.equal({ status: 'degraded', reasons: ['runs a config other than its desired one'] });
    await eventually(async () => (await totals()).drift === 1);

    client.close();
    const offline = await eventually(async () => {
      const body = await agentView();
      return body.status === 'offline' && body;
    });
    expect(offline).to.include({ online: false, session_id: null, transport: null });
    await eventually(async () => {
      const t = await totals();
      return t.online === 0 && t.offline === 1;
    });
  });

  it('shows Fusion pipes with their state, receivers without keys, views with totals and leaders, and sessions', async () => {
    const first = await openSession(fusion.url, INGEST_KEY, 'node-1', 'research');
    const second = await openSession(fusion.url, INGEST_KEY, 'node-2', 'research');
    await pushEvents(fusion.url, INGEST_KEY, first.body.session_id, ['a', 'b']);
    await pushEvents(fusion.url, INGEST_KEY, second.body.session_id, ['c']);

    const { status, body } = await getJson(fusion, '/api/v1/management/dashboard');
    expect(status).to.equal(200);
    const pipes = Object.fromEntries(body.pipes.map((p: any) => [p.pipe_id, p]));
    expect(pipes.main).to.deep.include({ state: 'RUNNING', reason: null, disabled: false, view_ids: ['tree'], session_count: 2, events_pushed: 3 });
    expect(pipes.main.receiver).to.deep.equal({ receiver_id: 'main', driver: 'http' });
    expect(pipes.paused).to.deep.include({ state: 'STOPPED', disabled: true });
    expect(pipes.orphan.state).to.equal('ERROR');
    expect(pipes.orphan.reason).to.match(/no API key/);
    expect(body.totals.pipes).to.deep.equal({ RUNNING: 1, STOPPED: 1, ERROR: 1 });

    expect(body.receivers).to.deep.equal([
      { receiver_id: 'main', driver: 'http', session_timeout_seconds: 30, heartbeat_interval_seconds: 5, api_key_count: 1, pipe_ids: ['main', 'paused', 'orphan'] },
    ]);
    expect(JSON.stringify(body)).to.not.include(INGEST_KEY);

    expect(body.views).to.have.length(1);
    expect(body.views[0]).to.deep.include({ view_id: 'tree', driver: 'fs', pipe_ids: ['main', 'paused', 'orphan'], leader_session_id: first.body.session_id, session_count: 2 });
    expect(body.views[0].stats).to.include({ files: 3 });

    const sessions = Object.fromEntries(body.sessions.map((s: any) => [s.session_id, s]));
    expect(sessions[first.body.session_id]).to.deep.include({ agent_id: 'node-1', pipe_id: 'main', role: 'leader', events_pushed: 2 });
    expect(sessions[second.body.session_id]).to.deep.include({ agent_id: 'node-2', role: 'follower', events_pushed: 1 });
    expect(sessions[first.body.session_id].age_seconds).to.be.a('number');
    expect(sessions[first.body.session_id].idle_seconds).to.be.a('number');
    expect(body.fusion.config_signature).to.match(/^sha256:/);
    expect(body.fusion.uptime_seconds).to.be.a('number');
  });

  it('lists recent commands, newest first, without their args and output', async () => {
    for (const type of ['reload_config', 'report_config']) {
      const res = await fusion.api('/api/v1/management/agents/node-9/command', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type }) });
      expect(res.status).to.equal(202);
      await res.arrayBuffer();
    }
    const { body } = await getJson(fusion, '/api/v1/management/dashboard');
    expect(body.commands.map((c: any) => [c.agent_id, c.type, c.status])).to.deep.equal([
      ['node-9', 'report_config', 'queued'],
      ['node-9', 'reload_config', 'queued'],
    ]);
    expect(body.commands[0]).to.not.have.property('args');
    expect(body.commands[0]).to.not.have.property('output');
  });

  it('needs a viewer token', async () => {
    const anonymous = await fetch(`${fusion.url}/api/v1/management/dashboard`);
    expect(anonymous.status).to.equal(401);
    await anonymous.arrayBuffer();
    const viewer = await createAdminToken(fusion.home, 'viewer');
    expect((await getJson(fusion, '/api/v1/management/dashboard', { authorization: `Bearer ${viewer.secret}` })).status).to.equal(200);
    expect((await getJson(fusion, '/api/v1/management/drivers', { authorization: `Bearer ${viewer.secret}` })).status).to.equal(200);
  });

  it('lists the drivers of every subsystem with their parameters, exactly those validation accepts', async () => {
    const { body } = await getJson(fusion, '/api/v1/management/drivers');
    expect(body.agent.sources.map((d: any) => d.name)).to.deep.equal(AGENT_DRIVERS.filter((d) => d.kind === 'source').map((d) => d.name));
    expect(body.agent.senders.map((d: any) => d.name)).to.deep.equal(AGENT_DRIVERS.filter((d) => d.kind === 'sender').map((d) => d.name));
    expect(body.fusion.receivers.map((d: any) => d.name)).to.deep.equal(FUSION_DRIVERS.filter((d) => d.kind === 'receiver').map((d) => d.name));
    expect(body.fusion.views.map((d: any) => d.name)).to.deep.equal(FUSION_DRIVERS.filter((d) => d.kind === 'view').map((d) => d.name));
    const fusionSender = body.agent.senders.find((d: any) => d.name === 'fusion');
    expect(fusionSender.uri).to.be.a('string');
    expect(fusionSender.params.find((p: any) => p.name === 'credential.key')).to.include({ required: true, type: 'string' });
    const http = body.fusion.receivers.find((d: any) => d.name === 'http');
    expect(http.params.map((p: any) => p.name)).to.include('session_timeout_seconds');
  });
});
