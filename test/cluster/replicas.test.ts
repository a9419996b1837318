import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { CloseCode, configSignature, validateConfig } from '../harness/protocol-imports.js';
import { eventually } from '../harness/eventually.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { createTempDatabase, requirePostgres, type TempDatabase } from '../harness/postgres.js';
import { RawAgentClient } from '../harness/raw-client.js';
import pg from 'pg';
import { sampleConfig } from '../harness/sample-config.js';
import { fustorctl } from '../cli/cli-harness.js';
import { placeholderPackage } from '../upgrade/upgrade-fixtures.js';
import { MOUNT_TEMPLATE, MemberAgent, assign, createGroup, desired, rollout, saveTemplate, states, withAudit } from '../groups/group-fixture.js';

/** Heartbeat of the replicas in these tests: a replica silent two of them is dead. */
const HEARTBEAT_MS = 300;

function normalised(doc: Record<string, unknown>): Record<string, unknown> {
  const check = validateConfig(doc);
  if (!check.ok) throw new Error('sample config invalid');
  return check.config as Record<string, unknown>;
}

/**
 * Three Fusion replicas (in this process) on one PostgreSQL database: what
 * an admin does on one reaches an agent whose socket another holds.
 */
describe('replicas on one PostgreSQL', function () {
  this.timeout(60_000);
  let database: TempDatabase;
  let a: TestFusion;
  let b: TestFusion;
  let c: TestFusion;
  const clients: RawAgentClient[] = [];

  before(async function () {
    await requirePostgres(this);
  });

  let savedKey: string | undefined;
  beforeEach(async () => {
    // Replicas share the secrets key, as FUSION_SECRET_KEY (each has a home of its own).
    savedKey = process.env.FUSION_SECRET_KEY;
    process.env.FUSION_SECRET_KEY = randomBytes(32).toString('hex');
    database = await createTempDatabase();
    const replica = (id: string): Promise<TestFusion> =>
      startFusion({ databaseUrl: database.url, replicaId: id, replicaHeartbeatMs: HEARTBEAT_MS, leaseRetryMs: 100 });
    a = await replica('replica-a');
    b = await replica('replica-b');
    c = await replica('replica-c');
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.terminate();
    for (const f of [a, b, c]) await f?.stop().catch(() => undefined);
    await database?.drop();
    if (savedKey === undefined) delete process.env.FUSION_SECRET_KEY;
    else process.env.FUSION_SECRET_KEY = savedKey;
  });

  /** A raw agent on `fusion`: enrolled there the first time, else with the credential it was given. */
  async function agentOn(fusion: TestFusion, agentId: string, token?: string): Promise<RawAgentClient> {
    const client = token === undefined ? await RawAgentClient.connectAs(fusion.url, agentId, fusion.enrollmentToken) : await RawAgentClient.connect(fusion.url, agentId, token);
    clients.push(client);
    await client.hello();
    return client;
  }

  const view = async (fusion: TestFusion, agentId: string): Promise<any> => (await fusion.json('GET', `/api/v1/management/agents/${agentId}`)).body;

  it('a config saved on A reaches the agent on C, and every replica shows it online on C with its ACK', async () => {
    const agent = await agentOn(c, 'node-1');
    const doc = normalised(sampleConfig());
    const saved = await a.json('POST', '/api/v1/management/agents/node-1/config/structured', doc);
    expect(saved.status).to.equal(201);
    const frame = await agent.next('config');
    expect(frame.signature).to.equal(configSignature(doc));
    agent.send({ type: 'config_status', signature: frame.signature, revision: frame.revision, status: 'applied' });
    for (const fusion of [a, b, c]) {
      const state = await eventually(async () => {
        const v = await view(fusion, 'node-1');
        return v.config.status === 'applied' && v;
      });
      expect(state).to.include({ online: true, status: 'online', transport: 'websocket', replica_id: 'replica-c' });
      expect(state.session_id).to.be.a('string');
    }
    const listed = (await b.json('GET', '/api/v1/management/agents?status=online')).body;
    expect(listed.agents.map((v: any) => v.agent_id)).to.deep.equal(['node-1']);
    // The agent reconnects to B with the config it runs: nothing is sent again.
    const credential = c.credentialOf('node-1')!;
    agent.terminate();
    const again = await RawAgentClient.connect(b.url, 'node-1', credential);
    clients.push(again);
    await again.hello({ signature: frame.signature, source: 'remote' });
    await eventually(async () => (await view(a, 'node-1')).replica_id === 'replica-b');
    await again.next('config', 300).then(
      () => expect.fail('a config was sent to an agent that runs its desired one'),
      (err: Error) => expect(err.message).to.match(/no config frame/),
    );
  });

  it('a secret rotated on B reaches the agent on C whose config references it, as an empty patch with the new value', async () => {
    expect((await a.json('POST', '/api/v1/management/secrets', { name: 'k', value: 'first-value' })).status).to.equal(201);
    const agent = await agentOn(c, 'node-1');
    const document = { sources: {}, senders: { out: { driver: 'fusion', uri: 'http://x', credential: { key: '${secret:k}' } } }, pipes: {} };
    expect((await a.json('POST', '/api/v1/management/agents/node-1/config/structured', document)).status).to.equal(201);
    const first = await agent.next('config');
    expect(first).to.deep.include({ secrets: { k: 'first-value' } });
    agent.send({ type: 'config_status', signature: first.signature, revision: first.revision, status: 'applied' });
    await eventually(async () => (await view(b, 'node-1')).config.status === 'applied');
    expect((await b.json('PUT', '/api/v1/management/secrets/k', { value: 'second-value' })).status).to.equal(200);
    const rotated = await agent.next('config');
    expect(rotated).to.deep.include({ encoding: 'patch', signature: first.signature, secrets: { k: 'second-value' } });
  });

  it('a command queued on B runs once on the agent at C; a cancel on A reaches it too', async () => {
    const agent = await agentOn(c, 'node-1');
    const created = await b.json('POST', '/api/v1/management/agents/node-1/command', { type: 'reload_config', args: {} });
    expect(created.status).to.equal(202);
    const frame = await agent.next('command');
    expect(frame.command_id).to.equal(created.body.id);
    agent.send({ type: 'command_ack', command_id: frame.command_id });
    agent.send({ type: 'command_result', command_id: frame.command_id, status: 'succeeded', output: { added: [], removed: [], restarted: [] } });
    // B waits for the result that reached C.
    const done = (await b.json('GET', `/api/v1/management/commands/${frame.command_id}?wait=5`)).body;
    expect(done.status).to.equal('succeeded');
    expect(done.transitions.map((t: any) => t.status)).to.deep.equal(['queued', 'sent', 'acknowledged', 'succeeded']);
    // Reconnecting through another replica delivers nothing again.
    const credential = c.credentialOf('node-1')!;
    agent.terminate();
    const again = await agentOn(a, 'node-1', credential);
    const second = await a.json('POST', '/api/v1/management/agents/node-1/command', { type: 'scan', args: { path: '/etc', recursive: false } });
    const next = await again.next('command');
    expect(next.command_id).to.equal(second.body.id);
    const commandFrames = [...agent.frames, ...again.frames].filter((f) => f.type === 'command');
    expect(commandFrames.map((f: any) => f.command_id)).to.deep.equal([created.body.id, second.body.id]);
    const cancelled = await c.json('DELETE', `/api/v1/management/commands/${second.body.id}`);
    expect(cancelled.status).to.equal(200);
    expect((await again.next('command_cancel')).command_id).to.equal(second.body.id);
  });

  it('an agent connecting to B while connected to A is replaced on A (4004)', async () => {
    const first = await agentOn(a, 'node-1');
    const credential = a.credentialOf('node-1')!;
    const second = await agentOn(b, 'node-1', credential);
    expect(await first.closed()).to.equal(CloseCode.Replaced);
    const error = first.frames.find((f) => f.type === 'error') as any;
    expect(error.code).to.equal('replaced');
    await eventually(async () => (await view(c, 'node-1')).replica_id === 'replica-b');
    // The replaced socket's close does not take the agent offline: B holds it.
    const v = await view(a, 'node-1');
    expect(v).to.include({ online: true, replica_id: 'replica-b' });
    expect(second.closeCode).to.equal(undefined);
  });

  it('a revocation on A closes the socket C holds (4002); a rotation request on B reaches the agent on C', async () => {
    const rotating = await RawAgentClient.connectAs(c.url, 'node-r', c.enrollmentToken);
    clients.push(rotating);
    await rotating.hello({}, { capabilities: ['patch', 'credential_rotation'] });
    await eventually(async () => (await view(b, 'node-r')).online);
    const rotated = await b.json('POST', '/api/v1/management/agents/node-r/rotate-credential');
    expect(rotated.status).to.equal(202);
    expect(rotated.body.sent_now).to.equal(true);
    const credential = await rotating.next('credential');
    expect(credential.credential).to.be.a('string');

    const agent = await agentOn(c, 'node-1');
    await eventually(async () => (await view(a, 'node-1')).online);
    const revoked = await a.json('POST', '/api/v1/management/agents/node-1/revoke');
    expect(revoked.status).to.equal(200);
    expect(revoked.body).to.include({ disconnected: true, close_code: CloseCode.Revoked });
    expect(await agent.closed()).to.equal(CloseCode.Revoked);
    await eventually(async () => !(await view(a, 'node-1')).online);
  });

  it('a group rollout saved on B moves through members on A, B and C, followed by the lease holder; a soak on another replica fails on its pipe report and its drop', async () => {
    const auditOf = (doc: Record<string, unknown> | null): unknown => (doc?.pipes as any)?.main.audit_interval_sec;
    await createGroup(b, 'nfs', MOUNT_TEMPLATE);
    const where: Array<[string, TestFusion]> = [['n1', a], ['n2', b], ['n3', c], ['n4', c]];
    const members = new Map<string, MemberAgent>();
    for (const [id, fusion] of where) {
      const m = await MemberAgent.connect(fusion, id);
      clients.push(m.client);
      members.set(id, m);
    }
    for (const [id] of where) await assign(c, 'nfs', id, { variables: { mount_point: id } });
    await eventually(() => [...members.values()].every((m) => auditOf(m.document) === 300));
    const pipes = (state: 'running' | 'error', lastError: string | null) => [{ id: 'main', state, records_sent: 0, last_error: lastError }];
    for (const m of members.values()) m.client.send({ type: 'status', pipes: pipes('running', null) });

    const saved = await saveTemplate(b, 'nfs', withAudit(MOUNT_TEMPLATE, 900), { strategy: 'batches', batch_size: 2 });
    const done = await eventually(async () => {
      const v = await rollout(a, saved.rollout.id);
      return v.status === 'completed' && v;
    });
    expect(states(done)).to.deep.equal({ n1: 'applied', n2: 'applied', n3: 'applied', n4: 'applied' });
    expect([...members.values()].every((m) => auditOf(m.document) === 900)).to.equal(true);

    // Soaks: n3 (on C) reports a failed pipe, n4 (on C) drops; neither is where the rollouts are followed unless C holds the lease.
    const soaked = await saveTemplate(a, 'nfs', withAudit(MOUNT_TEMPLATE, 60), { strategy: 'batches', batch_size: 4, soak_seconds: 30, max_failures: 3 });
    await eventually(async () => Object.values(states(await rollout(b, soaked.rollout.id))).filter((s) => s === 'soaking').length === 4);
    members.get('n3')!.client.send({ type: 'status', pipes: pipes('error', 'sender: 401 unknown key') });
    members.get('n4')!.close();
    const after = await eventually(async () => {
      const v = await rollout(b, soaked.rollout.id);
      const s = states(v);
      return s['n3'] === 'failed' && s['n4'] === 'failed' && v;
    });
    const reasons = Object.fromEntries(after.agents.map((r: any) => [r.agent_id, r.error]));
    expect(reasons['n3']).to.equal('unhealthy within its soak: pipe main failed: sender: 401 unknown key');
    expect(reasons['n4']).to.equal('disconnected within its soak');
    expect(states(after)).to.deep.include({ n1: 'soaking', n2: 'soaking' });
  });

  it('an upgrade rollout started on B moves batch by batch on results that reach A and C', async () => {
    const uploaded = await b.api('/api/v1/management/packages', { method: 'POST', headers: { 'content-type': 'application/gzip' }, body: placeholderPackage('2.0.0') });
    expect(uploaded.status).to.equal(201);
    const agents = [await agentOn(c, 'r-1'), await agentOn(a, 'r-2'), await agentOn(c, 'r-3')];
    await eventually(async () => (await view(b, 'r-3')).online);
    const started = await b.json('POST', '/api/v1/management/upgrades', { version: '2.0.0', agents: ['r-1', 'r-2', 'r-3'], batch_size: 1 });
    expect(started.status).to.equal(202);
    for (const agent of agents) {
      const command = await agent.next('command', 10_000);
      expect(command.command_type).to.equal('upgrade');
      agent.send({ type: 'command_ack', command_id: command.command_id });
      agent.send({ type: 'command_result', command_id: command.command_id, status: 'succeeded', output: { version: '2.0.0' } });
    }
    const done = await eventually(async () => {
      const r = (await c.json('GET', `/api/v1/management/upgrades/${started.body.id}`)).body;
      return r.status === 'completed' && r;
    });
    expect(done.counts).to.deep.equal({ waiting: 0, upgrading: 0, succeeded: 3, failed: 0 });
    expect(done.agents.map((x: any) => [x.agent_id, x.batch])).to.deep.equal([['r-1', 1], ['r-2', 2], ['r-3', 3]]);
  });

  it('a replica whose bus connection was cut catches up on what it missed: a config saved meanwhile, answers for the rollouts it follows', async () => {
    /** Ends `replica`'s listening connection; it listens again within a second. */
    const cutBus = async (replica: string): Promise<void> => {
      const admin = new pg.Client({ connectionString: database.url });
      await admin.connect();
      try {
        const cut = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [`fusion-bus-${replica}`]);
        expect(cut.rowCount).to.equal(1);
      } finally {
        await admin.end();
      }
    };
    // A config saved while B does not listen reaches B's agent once B listens again.
    const agent = await agentOn(b, 'node-1');
    await cutBus('replica-b');
    const doc = normalised(sampleConfig());
    expect((await a.json('POST', '/api/v1/management/agents/node-1/config/structured', doc)).status).to.equal(201);
    const frame = await agent.next('config', 10_000);
    expect(frame.signature).to.equal(configSignature(doc));

    // Answers made while the rollouts' follower (A, the first replica) does not listen are picked up when it does.
    const auditOf = (d: Record<string, unknown> | null): unknown => (d?.pipes as any)?.main.audit_interval_sec;
    const holder = (await a.json('GET', '/api/v1/management/replicas')).body.replicas.find((r: any) => r.leases.includes('rollouts')).id;
    await createGroup(c, 'nfs', MOUNT_TEMPLATE);
    const members = [await MemberAgent.connect(c, 'm1'), await MemberAgent.connect(c, 'm2')];
    for (const m of members) clients.push(m.client);
    for (const m of members) await assign(c, 'nfs', m.agentId, { variables: { mount_point: m.agentId } });
    await eventually(() => members.every((m) => auditOf(m.document) === 300));
    for (const m of members) m.holdConfigs = true;
    const saved = await saveTemplate(c, 'nfs', withAudit(MOUNT_TEMPLATE, 900), { strategy: 'batches', batch_size: 2, batch_timeout_seconds: 600 });
    await eventually(() => members.every((m) => m.received.length === 2));
    await cutBus(holder);
    for (const m of members) m.answerHeld();
    const done = await eventually(async () => {
      const v = await rollout(c, saved.rollout.id);
      return v.status === 'completed' && v;
    });
    expect(states(done)).to.deep.equal({ m1: 'applied', m2: 'applied' });
  });

  it('a group deleted on A and created again under its name renders its new template on C', async () => {
    const auditOf = (d: Record<string, unknown> | null): unknown => (d?.pipes as any)?.main.audit_interval_sec;
    await createGroup(a, 'nfs', MOUNT_TEMPLATE);
    await assign(c, 'nfs', 'node-1', { variables: { mount_point: 'm' } });
    expect(auditOf((await desired(c, 'node-1')).document)).to.equal(300);
    expect((await c.json('DELETE', '/api/v1/management/groups/nfs/members/node-1')).status).to.be.oneOf([200, 204]);
    expect((await a.json('DELETE', '/api/v1/management/groups/nfs')).status).to.be.oneOf([200, 204]);
    await createGroup(a, 'nfs', withAudit(MOUNT_TEMPLATE, 45));
    // C rendered revision 1 of the old group; it heard of the delete, so it reads the new one.
    await eventually(async () => {
      await assign(c, 'nfs', 'node-1', { variables: { mount_point: 'm' } });
      return auditOf((await desired(b, 'node-1')).document) === 45;
    });
  });

  it('lists the replicas, each lease held by one, and the agents each holds; a stopped replica shows stopped and its leases move', async () => {
    await agentOn(c, 'node-1');
    await agentOn(c, 'node-2');
    await agentOn(b, 'node-3');
    const list = await eventually(async () => {
      const res = await a.json('GET', '/api/v1/management/replicas');
      const byId = new Map<string, any>(res.body.replicas.map((r: any) => [r.id, r]));
      return byId.get('replica-c')?.agents_connected === 2 && byId.get('replica-b')?.agents_connected === 1 && res.body;
    });
    expect(list.replica_id).to.equal('replica-a');
    expect(list.heartbeat_ms).to.equal(HEARTBEAT_MS);
    expect(list.replicas.map((r: any) => r.id).sort()).to.deep.equal(['replica-a', 'replica-b', 'replica-c']);
    for (const r of list.replicas) {
      expect(r).to.include({ live: true, stopped_at: null });
      expect(r.url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(r.heartbeat_at).to.be.at.least(r.started_at);
    }
    const leases = list.replicas.flatMap((r: any) => r.leases).sort();
    expect(leases).to.deep.equal(['commands', 'retention', 'rollouts']);
    // A viewer may read it; no token may not.
    expect((await fetch(`${b.url}/api/v1/management/replicas`)).status).to.equal(401);
    const viewer = await b.json('POST', '/api/v1/management/admin-tokens', { name: 'watcher', role: 'viewer' });
    expect((await fetch(`${b.url}/api/v1/management/replicas`, { headers: { authorization: `Bearer ${viewer.body.secret}` } })).status).to.equal(200);
    const printed = await fustorctl(['replicas'], { url: c.url, token: c.adminToken });
    expect(printed.status, printed.stderr).to.equal(0);
    const lines = printed.stdout.trim().split('\n');
    expect(lines[0]).to.match(/^REPLICA\s+URL\s+STATE\s+HEARTBEAT\s+STARTED\s+AGENTS\s+LEASES$/);
    expect(lines.find((l) => l.startsWith('replica-c *'))).to.match(/ live .* 2 /);
    expect(lines.find((l) => l.startsWith('replica-b '))).to.match(/ live .* 1 /);
    const asJson = JSON.parse((await fustorctl(['replicas', '--json'], { url: a.url, token: a.adminToken })).stdout);
    expect(asJson.replicas).to.have.length(3);

    const holder = list.replicas.find((r: any) => r.leases.includes('commands')).id as string;
    const stopping = { 'replica-a': a, 'replica-b': b, 'replica-c': c }[holder]!;
    const other = stopping === a ? b : a;
    await stopping.stop();
    const after = await eventually(async () => {
      const res = await other.json('GET', '/api/v1/management/replicas');
      const moved = res.body.replicas.flatMap((r: any) => r.leases).sort();
      return moved.length === 3 && res.body;
    });
    expect(after.replicas.find((r: any) => r.id === holder)).to.include({ live: false, agents_connected: 0 });
    expect(after.replicas.find((r: any) => r.id === holder).stopped_at).to.be.a('number');
    expect(after.replicas.filter((r: any) => r.live)).to.have.length(2);
  });
});

describe('the replicas endpoint on SQLite', () => {
  it('lists the one Fusion, live, holding every lease, with the agents it holds', async function () {
    if (process.env.FUSION_TEST_DATABASE === 'postgres') this.skip();
    const fusion = await startFusion();
    try {
      const agent = await RawAgentClient.connectAs(fusion.url, 'node-1', fusion.enrollmentToken);
      await agent.hello();
      const { status, body } = await fusion.json('GET', '/api/v1/management/replicas');
      expect(status).to.equal(200);
      expect(body.replicas).to.have.length(1);
      expect(body.replicas[0]).to.include({ id: body.replica_id, url: fusion.url, live: true, stopped_at: null, agents_connected: 1 });
      expect(body.replicas[0].leases).to.deep.equal(['rollouts', 'commands', 'retention']);
      expect((await fusion.json('GET', '/api/v1/management/agents/node-1')).body).to.include({ online: true, replica_id: body.replica_id });
      agent.terminate();
    } finally {
      await fusion.stop();
    }
  });
});
