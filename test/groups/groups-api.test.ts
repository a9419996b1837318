import { expect } from 'chai';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { sampleConfig } from '../harness/sample-config.js';
import { MOUNT_TEMPLATE, assign, call, createGroup, desired, ok, saveTemplate, withAudit } from './group-fixture.js';

const GROUPS = '/api/v1/management/groups';

describe('config groups API', () => {
  let fusion: TestFusion;
  beforeEach(async () => {
    fusion = await startFusion();
  });
  afterEach(async () => {
    await fusion.stop();
  });

  it('renders one template differently per agent, and its signature is of the rendered result', async () => {
    const created = await createGroup(fusion, 'nfs', MOUNT_TEMPLATE);
    expect(created).to.include({ group: 'nfs', revision: 1, rollout: null });
    const a = await assign(fusion, 'nfs', 'node-a', { variables: { mount_point: 'alpha' } });
    const b = await assign(fusion, 'nfs', 'node-b', { variables: { mount_point: 'beta' } });
    expect(a.config.changed).to.equal(true);
    const docA = await desired(fusion, 'node-a');
    const docB = await desired(fusion, 'node-b');
    expect(docA.document.sources.data.uri).to.equal('/mnt/alpha/data');
    expect(docB.document.sources.data.uri).to.equal('/mnt/beta/data');
    expect(docA.signature).to.equal(a.config.signature);
    expect(docB.signature).to.equal(b.config.signature);
    expect(docA.author).to.equal('group:nfs@1');

    const group = await ok(fusion, 'GET', `${GROUPS}/nfs`);
    expect(group).to.include({ name: 'nfs', revision: 1, members: 2, template: MOUNT_TEMPLATE });
    expect(group.variables).to.deep.equal(['agent_id', 'mount_point']);
    const list = await ok(fusion, 'GET', GROUPS);
    expect(list.groups.map((g: any) => [g.name, g.members])).to.deep.equal([['nfs', 2]]);
    const members = await ok(fusion, 'GET', `${GROUPS}/nfs/members`);
    expect(members.members.map((m: any) => [m.agent_id, m.variables.mount_point, m.assigned_by])).to.deep.equal([
      ['node-a', 'alpha', 'admin'],
      ['node-b', 'beta', 'admin'],
    ]);
    // The fleet view names each agent's group.
    const agents = await ok(fusion, 'GET', '/api/v1/management/agents');
    expect(agents.agents.map((a: any) => [a.agent_id, a.group])).to.deep.include.members([
      ['node-a', 'nfs'],
      ['node-b', 'nfs'],
    ]);
  });

  it('lets an override win over the template; null deletes a key; removing the override renders the template again', async () => {
    await createGroup(fusion, 'nfs', MOUNT_TEMPLATE);
    await assign(fusion, 'nfs', 'node-a', { variables: { mount_point: 'alpha' } });
    const plain = await desired(fusion, 'node-a');
    const patched = await ok(fusion, 'PATCH', `${GROUPS}/nfs/members/node-a`, {
      override: { sources: { data: { uri: '/local/disk' } }, pipes: { main: { audit_interval_sec: 60, disabled: true } }, agent_id: null },
    });
    expect(patched.config.changed).to.equal(true);
    const doc = (await desired(fusion, 'node-a')).document;
    expect(doc.sources.data).to.include({ driver: 'fs', uri: '/local/disk' });
    expect(doc.pipes.main).to.include({ audit_interval_sec: 60, disabled: true, source: 'data' });
    expect(doc).to.not.have.property('agent_id');

    // A template change keeps the override on top.
    await saveTemplate(fusion, 'nfs', withAudit(MOUNT_TEMPLATE, 900));
    expect((await desired(fusion, 'node-a')).document.pipes.main.audit_interval_sec).to.equal(60);

    const cleared = await ok(fusion, 'PATCH', `${GROUPS}/nfs/members/node-a`, { override: null });
    const back = await desired(fusion, 'node-a');
    expect(back.document.pipes.main.audit_interval_sec).to.equal(900);
    expect(back.document.sources.data.uri).to.equal('/mnt/alpha/data');
    expect(cleared.config.signature).to.not.equal(plain.signature); // the template itself changed meanwhile
  });

  it('refuses a template that one member cannot render: 400 naming it, nothing stored', async () => {
    await createGroup(fusion, 'nfs', MOUNT_TEMPLATE);
    await assign(fusion, 'nfs', 'node-a', { variables: { mount_point: 'alpha', share: 'projects' } });
    await assign(fusion, 'nfs', 'node-b', { variables: { mount_point: 'beta' } });
    const before = await desired(fusion, 'node-a');
    const broken = MOUNT_TEMPLATE.replace('/mnt/${mount_point}/data', '/mnt/${mount_point}/${share}');
    const res = await call(fusion, 'PUT', `${GROUPS}/nfs/template`, { template: broken });
    expect(res.status).to.equal(400);
    expect(res.body.error.code).to.equal('invalid_group_config');
    expect(res.body.error.message).to.contain('node-b');
    expect(res.body.error.message).to.not.contain('node-a');
    expect(res.body.error.details).to.deep.equal([{ agent_id: 'node-b', errors: [{ path: 'sources.data.uri', message: 'unknown variable ${share}' }] }]);
    const group = await ok(fusion, 'GET', `${GROUPS}/nfs`);
    expect(group.revision).to.equal(1);
    expect((await ok(fusion, 'GET', `${GROUPS}/nfs/history`)).revisions).to.have.length(1);
    expect((await desired(fusion, 'node-a')).revision).to.equal(before.revision);
    expect((await ok(fusion, 'GET', `${GROUPS}/nfs/rollouts`)).rollouts).to.deep.equal([]);

    // An assignment that does not render is refused the same way.
    const bad = await call(fusion, 'PUT', `${GROUPS}/nfs/members/node-c`, { variables: {} });
    expect(bad.status).to.equal(400);
    expect(bad.body.error.details[0].agent_id).to.equal('node-c');
    expect((await call(fusion, 'GET', `${GROUPS}/nfs/members/node-c`)).status).to.equal(404);
    // A template that is wrong on its own is refused before any member is rendered.
    const invalid = await call(fusion, 'PUT', `${GROUPS}/nfs/template`, { template: 'sources: [unclosed' });
    expect(invalid.body.error.code).to.equal('invalid_template');
  });

  it('refuses a per-agent config for a member (409 agent_in_group) and takes one again after the agent leaves', async () => {
    await createGroup(fusion, 'nfs', MOUNT_TEMPLATE);
    await assign(fusion, 'nfs', 'node-a', { variables: { mount_point: 'alpha' } });
    const direct = await call(fusion, 'POST', '/api/v1/management/agents/node-a/config/structured', sampleConfig());
    expect(direct.status).to.equal(409);
    expect(direct.body.error).to.include({ code: 'agent_in_group' });
    expect(direct.body.error.details).to.deep.equal({ group: 'nfs' });
    const kept = await desired(fusion, 'node-a');
    await ok(fusion, 'DELETE', `${GROUPS}/nfs/members/node-a`, undefined, 204);
    expect((await desired(fusion, 'node-a')).signature).to.equal(kept.signature); // leaving keeps the last rendered config
    await ok(fusion, 'POST', '/api/v1/management/agents/node-a/config/structured', sampleConfig(), 201);
    // An agent that is not in a group keeps working as before.
    await ok(fusion, 'POST', '/api/v1/management/agents/node-z/config/structured', sampleConfig(), 201);
  });

  it('honours If-Match on template saves, keeps every revision, and rolls back by saving an old one again', async () => {
    const created = await createGroup(fusion, 'nfs', MOUNT_TEMPLATE);
    await assign(fusion, 'nfs', 'node-a', { variables: { mount_point: 'alpha' } });
    const first = await desired(fusion, 'node-a');
    const second = await ok(fusion, 'PUT', `${GROUPS}/nfs/template`, { template: withAudit(MOUNT_TEMPLATE, 600) }, 200, { 'if-match': `"${created.signature}"` });
    expect(second.revision).to.equal(2);
    const stale = await call(fusion, 'PUT', `${GROUPS}/nfs/template`, { template: withAudit(MOUNT_TEMPLATE, 700) }, { 'if-match': `"${created.signature}"` });
    expect(stale.status).to.equal(412);
    expect(stale.body.error.details.current_signature).to.equal(second.signature);

    // YAML body, strategy in the query string.
    const yaml = await fusion.api(`${GROUPS}/nfs/template?strategy=batches&batch_size=5`, {
      method: 'PUT',
      headers: { 'content-type': 'application/yaml', 'if-match': `"${second.signature}"` },
      body: withAudit(MOUNT_TEMPLATE, 800),
    });
    expect(yaml.status).to.equal(200);
    const third = (await yaml.json()) as any;
    expect(third.rollout.strategy).to.deep.equal({ strategy: 'batches', batch_size: 5, pause_seconds: 0, max_failures: 0 });
    expect((await desired(fusion, 'node-a')).document.pipes.main.audit_interval_sec).to.equal(800);

    const history = await ok(fusion, 'GET', `${GROUPS}/nfs/history`);
    expect(history.revisions.map((r: any) => r.revision)).to.deep.equal([3, 2, 1]);
    const old = await fusion.api(`${GROUPS}/nfs/history/1`);
    expect(await old.text()).to.equal(MOUNT_TEMPLATE);

    const rolledBack = await ok(fusion, 'POST', `${GROUPS}/nfs/rollback`, { revision: 1 });
    expect(rolledBack).to.include({ revision: 4, restored_from: 1, signature: created.signature });
    const now = await desired(fusion, 'node-a');
    expect(now.signature).to.equal(first.signature);
    expect(now.document.pipes.main.audit_interval_sec).to.equal(300);
  });

  it('refuses to delete a group with members, deletes an empty one, and validates names and variables', async () => {
    await createGroup(fusion, 'nfs', MOUNT_TEMPLATE);
    expect((await call(fusion, 'POST', GROUPS, { name: 'nfs', template: MOUNT_TEMPLATE })).body.error.code).to.equal('group_exists');
    expect((await call(fusion, 'POST', GROUPS, { name: '../x', template: MOUNT_TEMPLATE })).status).to.equal(400);
    const reserved = await call(fusion, 'PUT', `${GROUPS}/nfs/members/node-a`, { variables: { agent_id: 'other', mount_point: 'a' } });
    expect(reserved.status).to.equal(400);
    await assign(fusion, 'nfs', 'node-a', { variables: { mount_point: 'alpha' } });
    const busy = await call(fusion, 'DELETE', `${GROUPS}/nfs`);
    expect(busy.status).to.equal(409);
    expect(busy.body.error.code).to.equal('group_has_members');
    await ok(fusion, 'DELETE', `${GROUPS}/nfs/members/node-a`, undefined, 204);
    const empty = await saveTemplate(fusion, 'nfs', withAudit(MOUNT_TEMPLATE, 60));
    expect(empty).to.include({ revision: 2, rollout: null }); // no members, nothing to roll out
    await ok(fusion, 'DELETE', `${GROUPS}/nfs`, undefined, 204);
    expect((await call(fusion, 'GET', `${GROUPS}/nfs`)).status).to.equal(404);
    const viewer = await fusion.api(GROUPS, { headers: { authorization: 'Bearer wrong' } });
    expect(viewer.status).to.equal(401);
  });

  it('moves an agent between groups; the newer assignment renders the other template', async () => {
    await createGroup(fusion, 'nfs', MOUNT_TEMPLATE);
    await createGroup(fusion, 'scratch', MOUNT_TEMPLATE.replace('/mnt/${mount_point}/data', '/scratch/${agent_id}'));
    await assign(fusion, 'nfs', 'node-a', { variables: { mount_point: 'alpha' } });
    await assign(fusion, 'scratch', 'node-a');
    expect((await desired(fusion, 'node-a')).document.sources.data.uri).to.equal('/scratch/node-a');
    expect((await ok(fusion, 'GET', `${GROUPS}/nfs/members`)).members).to.deep.equal([]);
    const member = await ok(fusion, 'GET', `${GROUPS}/scratch/members/node-a`);
    expect(member).to.include({ group_name: 'scratch', rendered_revision: 1 });
    expect(member.desired.document.sources.data.uri).to.equal('/scratch/node-a');
  });
});
