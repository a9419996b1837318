import { expect } from 'chai';
import { eventually } from '../harness/eventually.js';
import { MOUNT_TEMPLATE, MemberAgent, assign, fusionPerTest, call, createGroup, desired, ok, withAudit } from './group-fixture.js';

const auditOf = (doc: Record<string, unknown> | null): unknown => (doc?.pipes as any)?.main.audit_interval_sec;
const G = '/api/v1/management/groups';

describe('previews (dry runs)', () => {
  const world = fusionPerTest();
  const { members } = world;

  /** n1..n3 online and running the first template; n4 assigned but offline. */
  async function fleet(): Promise<Map<string, MemberAgent>> {
    await createGroup(world.fusion, 'nfs', MOUNT_TEMPLATE);
    const online = new Map<string, MemberAgent>();
    for (const id of ['n1', 'n2', 'n3']) {
      const m = await MemberAgent.connect(world.fusion, id);
      members.push(m);
      online.set(id, m);
    }
    for (const id of ['n1', 'n2', 'n3', 'n4']) await assign(world.fusion, 'nfs', id, { variables: { mount_point: id } });
    await eventually(() => [...online.values()].every((m) => auditOf(m.document) === 300));
    return online;
  }

  it('names exactly the agents a template save then changes, with the patches it then pushes, and stores nothing', async () => {
    const online = await fleet();
    // n3 overrides the audit interval, so the template change does not reach it.
    await ok(world.fusion, 'PATCH', `${G}/nfs/members/n3`, { override: { pipes: { main: { audit_interval_sec: 300 } } } });
    const next = withAudit(MOUNT_TEMPLATE, 900);
    const before = await ok(world.fusion, 'GET', `${G}/nfs`);
    const preview = await ok(world.fusion, 'PUT', `${G}/nfs/template?dry_run=true`, { template: next, rollout: { strategy: 'batches', batch_size: 1 } });
    expect(preview.counts).to.deep.equal({ total: 4, changed: 3, unchanged: 1, invalid: 0, offline: 1 });
    expect(preview.batch_count).to.equal(4);
    const byId = Object.fromEntries(preview.agents.map((a: any) => [a.agent_id, a]));
    expect(byId.n3.changed).to.equal(false);
    expect(byId.n3.patch).to.deep.equal([]);
    expect(byId.n4).to.include({ changed: true, online: false, batch: 4 });
    for (const id of ['n1', 'n2']) {
      expect(byId[id]).to.include({ changed: true, online: true, valid: true, base: 'running' });
      expect(byId[id].batch).to.be.within(1, 3);
      expect(byId[id].patch).to.deep.equal([{ op: 'replace', path: '/pipes/main/audit_interval_sec', value: 900 }]);
      expect(byId[id].diff).to.include('-    audit_interval_sec: 300').and.include('+    audit_interval_sec: 900');
    }
    // Nothing was stored.
    expect((await ok(world.fusion, 'GET', `${G}/nfs`)).revision).to.equal(before.revision);
    expect(auditOf((await desired(world.fusion, 'n1')).document)).to.equal(300);

    const counts = new Map([...online].map(([id, m]) => [id, m.received.length]));
    const saved = await ok(world.fusion, 'PUT', `${G}/nfs/template`, { template: next });
    await eventually(async () => (await ok(world.fusion, 'GET', `/api/v1/management/rollouts/${saved.rollout.id}`)).status === 'completed');
    for (const [id, m] of online) {
      const pushed = m.received.slice(counts.get(id));
      if (!byId[id].changed) {
        expect(pushed, id).to.have.length(0);
        continue;
      }
      expect(pushed, id).to.have.length(1);
      expect(pushed[0]).to.include({ encoding: 'patch', signature: byId[id].to_signature, base_signature: byId[id].from_signature });
      expect((pushed[0] as any).patch).to.deep.equal(byId[id].patch);
    }
    for (const id of ['n1', 'n2', 'n4']) expect((await desired(world.fusion, id)).signature).to.equal(byId[id].to_signature);
  });

  it('lists members that would not render instead of refusing, pages the list and keeps the counts complete', async () => {
    await fleet();
    const broken = MOUNT_TEMPLATE.replace('uri: /mnt/${mount_point}/data', 'uri: /mnt/${mount_point}/${disk}');
    await ok(world.fusion, 'PATCH', `${G}/nfs/members/n2`, { variables: { mount_point: 'n2', disk: 'sdb' } });
    const page = await ok(world.fusion, 'PUT', `${G}/nfs/template?dry_run=true&limit=2&offset=1&filter=all`, { template: broken });
    expect(page.counts).to.deep.equal({ total: 4, changed: 1, unchanged: 0, invalid: 3, offline: 1 });
    expect(page.matching).to.equal(4);
    expect(page.agents.map((a: any) => a.agent_id)).to.deep.equal(['n2', 'n3']);
    const invalid = await ok(world.fusion, 'PUT', `${G}/nfs/template?dry_run=true&filter=invalid&details=false`, { template: broken });
    expect(invalid.agents.map((a: any) => a.agent_id)).to.deep.equal(['n1', 'n3', 'n4']);
    expect(invalid.agents[0].errors[0].message).to.match(/disk/);
    expect(invalid.agents[0]).to.not.have.property('patch');
    // The real save is refused for the same members.
    const refused = await call(world.fusion, 'PUT', `${G}/nfs/template`, { template: broken });
    expect(refused.status).to.equal(400);
    expect(refused.body.error.details.map((d: any) => d.agent_id).sort()).to.deep.equal(['n1', 'n3', 'n4']);
    const bad = await call(world.fusion, 'PUT', `${G}/nfs/template?dry_run=true&limit=5000`, { template: broken });
    expect(bad.status).to.equal(400);
    expect(bad.body.error.message).to.match(/limit/);
  });

  it('previews a member change, a single agent config save and a roll back', async () => {
    await fleet();
    const member = await ok(world.fusion, 'PATCH', `${G}/nfs/members/n1?dry_run=true`, { variables: { mount_point: 'other' } });
    expect(member.counts).to.include({ total: 1, changed: 1 });
    expect(member.agents[0].patch).to.deep.equal([{ op: 'replace', path: '/sources/data/uri', value: '/mnt/other/data' }]);
    expect((await ok(world.fusion, 'GET', `${G}/nfs/members/n1`)).variables).to.deep.equal({ mount_point: 'n1' });

    const yaml = 'sources:\n  d: { driver: fs, uri: /tmp/x }\nsenders:\n  s: { driver: fusion, uri: "http://127.0.0.1:1", credential: { key: k } }\npipes:\n  p: { source: d, sender: s }\n';
    const single = await world.fusion.api('/api/v1/management/agents/solo/config?dry_run=true', { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: yaml });
    expect(single.status).to.equal(200);
    const body = (await single.json()) as any;
    expect(body.counts).to.include({ total: 1, changed: 1, offline: 1 });
    expect(body.agents[0].base).to.equal('none');
    expect((await world.fusion.api('/api/v1/management/agents/solo/config')).status).to.equal(404);
    const inGroup = await world.fusion.api('/api/v1/management/agents/n1/config?dry_run=true', { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: yaml });
    expect(inGroup.status).to.equal(409);

    const saved = await ok(world.fusion, 'PUT', `${G}/nfs/template`, { template: withAudit(MOUNT_TEMPLATE, 900) });
    await eventually(async () => (await ok(world.fusion, 'GET', `/api/v1/management/rollouts/${saved.rollout.id}`)).status === 'completed');
    const back = await ok(world.fusion, 'POST', `/api/v1/management/rollouts/${saved.rollout.id}/rollback?dry_run=true`, {});
    expect(back.counts).to.include({ total: 4, changed: 4 });
    expect(back.agents[0].patch).to.deep.equal([{ op: 'replace', path: '/pipes/main/audit_interval_sec', value: 300 }]);
    const toRevision = await ok(world.fusion, 'POST', `${G}/nfs/rollback?dry_run=true`, { revision: 1 });
    expect(toRevision).to.include({ restored_from: 1 });
    expect(toRevision.counts.changed).to.equal(4);
    expect((await ok(world.fusion, 'GET', `${G}/nfs`)).revision).to.equal(2);
  });
});
