import { expect } from 'chai';
import { eventually } from '../harness/eventually.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { TestEventStream, type StreamEvent } from '../management/event-stream-client.js';
import { MOUNT_TEMPLATE, MemberAgent, assign, createGroup, desired, ok, rollout, saveTemplate, states, withAudit } from './group-fixture.js';

const GROUPS = '/api/v1/management/groups';
const HOST_TEMPLATE = MOUNT_TEMPLATE.replace('/mnt/${mount_point}/data', '/srv/${hostname}');

describe('group changes reach the members', () => {
  let fusion: TestFusion;
  const members: MemberAgent[] = [];
  const connect = async (agentId: string, options: Parameters<typeof MemberAgent.connect>[2] = {}): Promise<MemberAgent> => {
    const member = await MemberAgent.connect(fusion, agentId, options);
    members.push(member);
    return member;
  };

  beforeEach(async () => {
    fusion = await startFusion();
  });
  afterEach(async () => {
    for (const m of members.splice(0)) m.close();
    await fusion.stop();
  });

  it('pushes a template change to every online member at once as a patch; they apply it; an offline one gets it on reconnect', async () => {
    await createGroup(fusion, 'nfs', MOUNT_TEMPLATE, { self_join: true });
    const online = await Promise.all(['node-1', 'node-2', 'node-3'].map((id) => connect(id)));
    for (const [i, id] of ['node-1', 'node-2', 'node-3', 'node-4'].entries()) await assign(fusion, 'nfs', id, { variables: { mount_point: `m${i}` } });
    await eventually(() => online.every((m) => m.signature !== null));
    expect(online.map((m) => m.received[0]!.encoding)).to.deep.equal(['full', 'full', 'full']);

    const saved = await saveTemplate(fusion, 'nfs', withAudit(MOUNT_TEMPLATE, 900));
    expect(saved.rollout).to.include({ batch_count: 1 });
    // The online members may have answered before the save's answer was written (on a loaded machine they do).
    expect(saved.rollout.status).to.be.oneOf(['running', 'completed']);
    expect(saved.rollout.strategy).to.deep.equal({ strategy: 'all' });
    await eventually(() => online.every((m) => (m.document?.pipes as any)?.main.audit_interval_sec === 900));
    for (const m of online) {
      const last = m.received.at(-1)!;
      expect(last.encoding, m.agentId).to.equal('patch');
      expect(m.signature).to.equal((await desired(fusion, m.agentId)).signature);
      expect((m.document!.sources as any).data.uri).to.equal(`/mnt/m${Number(m.agentId.slice(-1)) - 1}/data`);
    }
    const view = await eventually(async () => {
      const v = await rollout(fusion, saved.rollout.id);
      return v.status === 'completed' && v;
    });
    expect(view.counts).to.include({ applied: 3, applying: 1, failed: 0, total: 4 });
    expect(states(view)).to.deep.equal({ 'node-1': 'applied', 'node-2': 'applied', 'node-3': 'applied', 'node-4': 'applying' });
    expect(view.agents.find((a: any) => a.agent_id === 'node-4').online).to.equal(false);

    const late = await connect('node-4');
    await eventually(() => (late.document?.pipes as any)?.main.audit_interval_sec === 900);
    await eventually(async () => states(await rollout(fusion, saved.rollout.id))['node-4'] === 'applied');
    const agent = await ok(fusion, 'GET', '/api/v1/management/agents/node-4');
    expect(agent.config.status).to.equal('applied');
  });

  it('puts an agent in the group its bootstrap names before answering its hello, so the first config is the group\'s', async () => {
    await createGroup(fusion, 'nfs', HOST_TEMPLATE, { self_join: true });
    const agent = await connect('node-1', { group: 'nfs', hostname: 'nfs-host-1' });
    await eventually(() => agent.signature !== null);
    expect(agent.received).to.have.length(1);
    expect(agent.received[0]!.encoding).to.equal('full');
    expect((agent.document!.sources as any).data.uri).to.equal('/srv/nfs-host-1');
    const member = await ok(fusion, 'GET', `${GROUPS}/nfs/members/node-1`);
    expect(member).to.include({ assigned_by: 'bootstrap', rendered_revision: 1 });

    // The same agent on another host is rendered again on its next hello.
    agent.close();
    const moved = await connect('node-1', { group: 'nfs', hostname: 'nfs-host-2', from: agent });
    await eventually(() => (moved.document?.sources as any)?.data.uri === '/srv/nfs-host-2');
    expect(moved.received[0]!.encoding).to.equal('patch');
  });

  it('ignores a bootstrap group that does not exist, and never overrides an admin\'s assignment', async () => {
    await createGroup(fusion, 'nfs', HOST_TEMPLATE, { self_join: true });
    await createGroup(fusion, 'other', MOUNT_TEMPLATE, { self_join: true });
    const stray = await connect('node-1', { group: 'missing', hostname: 'h1' });
    await assign(fusion, 'other', 'node-2', { variables: { mount_point: 'two' } });
    const assigned = await connect('node-2', { group: 'nfs', hostname: 'h2' });
    await eventually(() => assigned.signature !== null);
    expect((assigned.document!.sources as any).data.uri).to.equal('/mnt/two/data');
    expect((await ok(fusion, 'GET', `${GROUPS}/nfs/members`)).members).to.deep.equal([]);
    expect((await ok(fusion, 'GET', `${GROUPS}/other/members/node-2`)).assigned_by).to.equal('admin');
    expect(stray.received).to.deep.equal([]);
  });

  it('puts an agent enrolling with a group\'s enrollment token in that group', async () => {
    await createGroup(fusion, 'nfs', HOST_TEMPLATE, { self_join: true });
    const token = await ok(fusion, 'POST', '/api/v1/management/enrollment-tokens', { name: 'nfs fleet', group: 'nfs' }, 201);
    const agent = await connect('node-7', { hostname: 'h7', token: token.secret });
    await eventually(() => agent.signature !== null);
    expect((agent.document!.sources as any).data.uri).to.equal('/srv/h7');
    expect((await ok(fusion, 'GET', `${GROUPS}/nfs/members/node-7`)).assigned_by).to.equal('enrollment');
  });

  it('publishes rollout progress on the management event stream', async () => {
    await createGroup(fusion, 'nfs', MOUNT_TEMPLATE, { self_join: true });
    const agent = await connect('node-1');
    await assign(fusion, 'nfs', 'node-1', { variables: { mount_point: 'a' } });
    await eventually(() => agent.signature !== null);
    const stream = await TestEventStream.open(fusion.url, { headers: { authorization: `Bearer ${fusion.adminToken}` } });
    try {
      const saved = await saveTemplate(fusion, 'nfs', withAudit(MOUNT_TEMPLATE, 42));
      // Each message's data is the whole bus event; its own `data` is the progress.
      const progress = (event: string) => (e: StreamEvent) => e.event === 'rollout.progress' && e.data.data.event === event;
      expect((await stream.next(progress('started'))).data.data).to.include({ rollout_id: saved.rollout.id, group: 'nfs', status: 'running' });
      expect((await stream.next(progress('member'))).data.data).to.include({ agent_id: 'node-1', state: 'applied' });
      expect((await stream.next(progress('completed'))).data.data).to.include({ status: 'completed' });
    } finally {
      stream.close();
    }
  });
});
