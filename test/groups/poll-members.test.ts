import { expect } from 'chai';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fastAgent } from '../agent/agent-fixture.js';
import type { Agent } from '../../agent/agent.js';
import { CONTROL_STATUS_PATH } from '../../shared/protocol/index.js';
import { eventually } from '../harness/eventually.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { RawAgentClient } from '../harness/raw-client.js';
import { tempHome } from '../harness/temp-home.js';
import { TestEventStream } from '../management/event-stream-client.js';
import { call, createGroup, desired, enrollPoller, ok, rollout, saveTemplate, states } from './group-fixture.js';

/** Each agent reads `<root>/<agent_id><suffix>`; a suffix whose directory does not exist makes the agent's apply fail. */
function template(root: string, suffix = '', auditSeconds = 300): string {
  return `sources:
  own: { driver: fs, uri: "${root}/\${agent_id}${suffix}" }
senders:
  out: { driver: fusion, uri: "http://127.0.0.1:1", credential: { key: test-key } }
pipes:
  own: { source: own, sender: out, audit_interval_sec: ${auditSeconds} }
`;
}

const SIGNATURE = `sha256:${'a'.repeat(64)}`;

describe('agents on the polling transport as group members', () => {
  let fusion: TestFusion;
  let home: { path: string; remove(): Promise<void> };
  let root: string;
  const agents: Agent[] = [];
  let stream: TestEventStream | undefined;

  beforeEach(async () => {
    fusion = await startFusion();
    home = await tempHome('poll-members-');
    root = path.join(home.path, 'data');
    for (const dir of ['poll-1', 'poll-2']) await mkdir(path.join(root, dir), { recursive: true });
  });
  afterEach(async () => {
    stream?.close();
    stream = undefined;
    for (const agent of agents.splice(0)) await agent.stop();
    await fusion.stop();
    await home.remove();
  });

  async function pollingAgent(id: string, extra: { group?: string; authToken?: string } = {}): Promise<Agent> {
    const agent = fastAgent(path.join(home.path, id), {
      agentId: id,
      controlPlaneUri: fusion.url,
      authToken: extra.authToken ?? fusion.enrollmentToken,
      transport: 'poll',
      pollIntervalSec: 0.05,
      connectTimeoutMs: 2000,
      hostname: `${id}.example`,
      ...(extra.group !== undefined && { group: extra.group }),
    });
    agents.push(agent);
    await agent.start();
    return agent;
  }

  const agentView = (id: string): Promise<any> => ok(fusion, 'GET', `/api/v1/management/agents/${id}`);

  it('joins its bootstrap group on its first poll, runs the rendered config, and ACKs a staged rollout, which shows it applied', async () => {
    await createGroup(fusion, 'nfs', template(root), { self_join: true });
    stream = await TestEventStream.open(fusion.url, { headers: { authorization: `Bearer ${fusion.adminToken}` } });
    const agent = await pollingAgent('poll-1', { group: 'nfs' });
    expect(agent.snapshot().config.source).to.equal('remote');
    expect(agent.snapshot().config.document!.sources.own!.uri).to.equal(`${root}/poll-1`);
    const member = await ok(fusion, 'GET', '/api/v1/management/groups/nfs/members/poll-1');
    expect(member).to.include({ assigned_by: 'bootstrap' });
    expect(agent.snapshot().config.signature).to.equal(member.desired.signature);

    const saved = await saveTemplate(fusion, 'nfs', template(root, '', 120), { strategy: 'batches', batch_size: 1, max_failures: 0 });
    const target = (await desired(fusion, 'poll-1')).signature;
    await eventually(() => agent.snapshot().config.signature === target, { message: 'the agent runs the new config' });
    const view = await eventually(async () => {
      const r = await rollout(fusion, saved.rollout.id);
      return states(r)['poll-1'] === 'applied' && r;
    }, { message: 'the rollout row of the polling member is applied' });
    expect(view.status).to.equal('completed');
    const event = await stream.next((e) => e.event === 'agent.config_status' && e.data.data.agent_id === 'poll-1' && e.data.data.signature === target);
    expect(event.data.data).to.include({ status: 'applied', error: null });
    expect((await agentView('poll-1')).config).to.include({ status: 'applied', applied_signature: target, desired_signature: target });
  });

  it('reports a config it cannot apply: the row fails, the rollout halts past max_failures, the agent view and the event stream show the error', async () => {
    await createGroup(fusion, 'nfs', template(root), { self_join: true });
    const first = await pollingAgent('poll-1', { group: 'nfs' });
    const second = await pollingAgent('poll-2', { group: 'nfs' });
    const before = { 'poll-1': first.snapshot().config.signature, 'poll-2': second.snapshot().config.signature };
    stream = await TestEventStream.open(fusion.url, { headers: { authorization: `Bearer ${fusion.adminToken}` } });

    // Neither agent has `<id>-missing`: the first batch's member fails; the pause keeps the rollout open for its report.
    const saved = await saveTemplate(fusion, 'nfs', template(root, '-missing'), { strategy: 'batches', batch_size: 1, pause_seconds: 30, max_failures: 0 });
    const halted = await eventually(async () => {
      const r = await rollout(fusion, saved.rollout.id);
      return r.status === 'halted' && r;
    }, { message: 'the rollout halts' });
    expect(halted.status_reason).to.include('max_failures 0');
    const failed = halted.agents.find((a: any) => a.state === 'failed');
    const pending = halted.agents.find((a: any) => a.state === 'pending');
    expect(failed, JSON.stringify(halted.agents)).to.not.equal(undefined);
    expect(pending, JSON.stringify(halted.agents)).to.not.equal(undefined);
    expect(failed.error).to.match(/source root .*-missing does not exist/);

    // The failing agent keeps its previous config; the pending one was never sent the new one.
    expect(agents.map((a) => a.snapshot().config.signature)).to.deep.equal([before['poll-1'], before['poll-2']]);
    const view = await agentView(failed.agent_id);
    expect(view.config.status).to.equal('failed');
    expect(view.config.error).to.match(/source root .*-missing does not exist/);
    const event = await stream.next((e) => e.event === 'agent.config_status' && e.data.data.agent_id === failed.agent_id);
    expect(event.data.data.status).to.equal('failed');
    expect(event.data.data.error).to.match(/-missing does not exist/);
  });

  it('an enrollment token\'s group wins over the poll\'s, an unknown group is ignored, and an agent in a group stays there', async () => {
    await createGroup(fusion, 'nfs', template(root), { self_join: true });
    await createGroup(fusion, 'lab', template(root, '', 60));
    await createGroup(fusion, 'closed', template(root, '', 90));
    const token = await ok(fusion, 'POST', '/api/v1/management/enrollment-tokens', { name: 'lab nodes', group: 'lab' }, 201);
    const pull = (id: string, query: string, secret: string): Promise<Response> =>
      fetch(`${fusion.url}/api/v1/control/configs/pull?agent_id=${id}&${query}`, { headers: { authorization: `Bearer ${secret}` } });
    const poll1 = await enrollPoller(fusion, 'poll-1', token.secret);
    const poll2 = await enrollPoller(fusion, 'poll-2');

    expect((await pull('poll-1', 'group=nfs&hostname=h1', poll1)).status).to.equal(200);
    expect((await ok(fusion, 'GET', '/api/v1/management/groups/lab/members/poll-1')).assigned_by).to.equal('enrollment');

    expect((await pull('poll-2', 'group=nowhere', poll2)).status).to.equal(404);
    expect((await call(fusion, 'GET', '/api/v1/management/groups/nowhere/members/poll-2')).status).to.equal(404);
    expect((await call(fusion, 'GET', '/api/v1/management/groups/nfs/members/poll-2')).status).to.equal(404);
    // Membership is not self-service: a group that does not allow self-join ignores a bootstrap's word.
    expect((await pull('poll-2', 'group=closed', poll2)).status).to.equal(404);
    expect((await call(fusion, 'GET', '/api/v1/management/groups/closed/members/poll-2')).status).to.equal(404);

    expect((await pull('poll-1', 'group=nfs', poll1)).status).to.equal(200);
    expect((await ok(fusion, 'GET', '/api/v1/management/groups/lab/members/poll-1')).assigned_by).to.equal('enrollment');
    expect((await pull('poll-2', 'group=', poll2)).status).to.equal(400);
  });

  it('renders `${hostname}` with the host name a pull carries, keeps it for later saves, and renders again when it changes', async () => {
    await createGroup(fusion, 'hosts', template(root).replace('${agent_id}', '${hostname}'), { self_join: true });
    const credential = await enrollPoller(fusion, 'poll-1');
    const pull = async (hostname: string): Promise<any> => {
      const res = await fetch(`${fusion.url}/api/v1/control/configs/pull?agent_id=poll-1&group=hosts&hostname=${hostname}`, {
        headers: { authorization: `Bearer ${credential}` },
      });
      expect(res.status).to.equal(200);
      return res.json();
    };
    expect((await pull('host-a')).document.sources.own.uri).to.equal(`${root}/host-a`);
    expect((await agentView('poll-1')).hostname).to.equal('host-a');
    // A later save renders the member with the host name Fusion kept (it would not render without one).
    await saveTemplate(fusion, 'hosts', template(root, '', 120).replace('${agent_id}', '${hostname}'));
    expect((await desired(fusion, 'poll-1')).document.pipes.own.audit_interval_sec).to.equal(120);
    expect((await pull('host-b')).document.sources.own.uri).to.equal(`${root}/host-b`);
  });

  it('the status endpoint refuses a bad body (400), a wrong token (401) and another agent\'s credential (403)', async () => {
    const post = (body: unknown, secret = fusion.enrollmentToken): Promise<Response> =>
      fetch(`${fusion.url}${CONTROL_STATUS_PATH}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const report = { agent_id: 'poll-1', signature: SIGNATURE, status: 'failed', error: 'cannot start' };

    const bad = await post({ ...report, status: 'applying', signature: 'nope' });
    expect(bad.status).to.equal(400);
    const problem = (await bad.json()) as { error: { code: string; message: string } };
    expect(problem.error.code).to.equal('bad_request');
    expect(problem.error.message).to.include('status').and.to.include('signature');
    expect((await post(report, 'wrong-token')).status).to.equal(401);

    const other = await RawAgentClient.connectAs(fusion.url, 'poll-2', fusion.enrollmentToken);
    const welcome = await other.hello();
    other.terminate();
    expect(welcome.credential).to.be.a('string');
    const forbidden = await post(report, welcome.credential);
    expect(forbidden.status).to.equal(403);
    expect(((await forbidden.json()) as { error: { code: string } }).error.code).to.equal('forbidden');

    expect((await post({ ...report, agent_id: 'poll-2' }, welcome.credential)).status).to.equal(204);
    // Refused reports left no trace of the agent they named.
    expect((await call(fusion, 'GET', '/api/v1/management/agents/poll-1')).status).to.equal(404);
  });
});
