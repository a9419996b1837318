import { expect } from 'chai';
import { eventually } from '../harness/eventually.js';
import { TestEventStream, type StreamEvent } from '../management/event-stream-client.js';
import { MOUNT_TEMPLATE, MemberAgent, assign, call, desired, fusionPerTest, ok, rollout, withAudit } from './group-fixture.js';

const auditOf = (doc: Record<string, unknown> | null): unknown => (doc?.pipes as any)?.main.audit_interval_sec;
const G = '/api/v1/management/groups';
const M = '/api/v1/management';

describe('reviewed changes', () => {
  const world = fusionPerTest();

  /** A second admin token (another identity), as a reviewer holds. */
  async function reviewer(name = 'reviewer'): Promise<Record<string, string>> {
    const token = await ok(world.fusion, 'POST', `${M}/admin-tokens`, { name, role: 'admin' }, 201);
    return { authorization: `Bearer ${token.secret}` };
  }

  /** A group with member n1 (put in before review was turned on: an agent put in a reviewed group is a change too). */
  async function reviewedGroup(): Promise<MemberAgent> {
    await ok(world.fusion, 'POST', G, { name: 'nfs', template: MOUNT_TEMPLATE }, 201);
    const m = await MemberAgent.connect(world.fusion, 'n1');
    world.members.push(m);
    await assign(world.fusion, 'nfs', 'n1', { variables: { mount_point: 'n1' } });
    await eventually(() => auditOf(m.document) === 300);
    await ok(world.fusion, 'PATCH', `${G}/nfs`, { require_review: true });
    return m;
  }

  const rootOf = (doc: Record<string, unknown> | null): unknown => (doc?.sources as any)?.data.uri;

  it('a member variables or override change, and an agent put in the group, wait for another admin too', async () => {
    const m = await reviewedGroup();
    const other = await reviewer();
    const frames = m.received.length;
    const proposed = await ok(world.fusion, 'PATCH', `${G}/nfs/members/n1`, { variables: { mount_point: 'moved' } }, 202);
    expect(proposed.change).to.include({ status: 'pending', kind: 'member', agent_id: 'n1', base_revision: 1, author: 'env:FUSION_ADMIN_TOKEN' });
    expect(proposed.change.member).to.deep.equal({ variables: { mount_point: 'moved' }, override: null });
    expect(proposed.preview.counts).to.include({ total: 1, changed: 1 });
    const id = proposed.change.id;
    // Nothing moved: the member's variables, its desired config, no frame.
    expect((await ok(world.fusion, 'GET', `${G}/nfs/members/n1`)).variables).to.deep.equal({ mount_point: 'n1' });
    expect(rootOf((await desired(world.fusion, 'n1')).document)).to.equal('/mnt/n1/data');
    expect(m.received.length).to.equal(frames);

    const shown = await ok(world.fusion, 'GET', `${M}/changes/${id}`);
    expect(shown).to.include({ stale: false, kind: 'member' });
    expect(shown.preview).to.include({ agent_id: 'n1' });
    expect(shown.preview.agents[0].patch).to.deep.equal([{ op: 'replace', path: '/sources/data/uri', value: '/mnt/moved/data' }]);
    expect((await ok(world.fusion, 'GET', `${G}/nfs/changes?status=pending`)).changes.map((c: any) => c.id)).to.deep.equal([id]);

    const self = await call(world.fusion, 'POST', `${M}/changes/${id}/approve`, {});
    expect(self.status).to.equal(403);
    expect(self.body.error.code).to.equal('review_by_author');
    const approved = await ok(world.fusion, 'POST', `${M}/changes/${id}/approve`, { comment: 'ok' }, 200, other);
    expect(approved.change).to.include({ status: 'approved', reviewer: 'reviewer', author: 'env:FUSION_ADMIN_TOKEN' });
    expect(approved.member).to.include({ agent_id: 'n1', group_name: 'nfs' });
    await eventually(() => rootOf(m.document) === '/mnt/moved/data');
    const audit = (await ok(world.fusion, 'GET', `${M}/audit?target=changes/`)).entries;
    expect(audit.find((e: any) => e.path.endsWith('/approve') && e.status === 200)).to.include({
      actor: 'reviewer',
      detail: `change ${id} of group nfs by env:FUSION_ADMIN_TOKEN approved by reviewer: member n1`,
    });

    // Two changes of the same member: approving one makes the other stale (409), and it never applies.
    const first = (await ok(world.fusion, 'PATCH', `${G}/nfs/members/n1`, { override: { pipes: { main: { audit_interval_sec: 60 } } } }, 202)).change;
    const second = (await ok(world.fusion, 'PATCH', `${G}/nfs/members/n1`, { variables: { mount_point: 'again' } }, 202)).change;
    await ok(world.fusion, 'POST', `${M}/changes/${first.id}/approve`, {}, 200, other);
    await eventually(() => auditOf(m.document) === 60);
    expect((await ok(world.fusion, 'GET', `${M}/changes/${second.id}`)).stale).to.equal(true);
    const stale = await call(world.fusion, 'POST', `${M}/changes/${second.id}/approve`, {}, other);
    expect(stale.status).to.equal(409);
    expect(stale.body.error).to.include({ code: 'change_stale' });
    expect(stale.body.error.message).to.include('its override changed');
    // A template change approved since makes a member change stale too.
    const third = (await ok(world.fusion, 'PATCH', `${G}/nfs/members/n1`, { variables: { mount_point: 'third' } }, 202)).change;
    const template = (await ok(world.fusion, 'PUT', `${G}/nfs/template`, { template: withAudit(MOUNT_TEMPLATE, 900) }, 202)).change;
    await ok(world.fusion, 'POST', `${M}/changes/${template.id}/approve`, {}, 200, other);
    expect((await call(world.fusion, 'POST', `${M}/changes/${third.id}/approve`, {}, other)).body.error.code).to.equal('change_stale');
    expect(rootOf((await desired(world.fusion, 'n1')).document)).to.equal('/mnt/moved/data');

    // An agent put in the group: pending until approved; a member change that does not render is refused (400), nothing stored.
    const n2 = await MemberAgent.connect(world.fusion, 'n2');
    world.members.push(n2);
    const join = await ok(world.fusion, 'PUT', `${G}/nfs/members/n2`, { variables: { mount_point: 'n2' } }, 202);
    expect(join.change).to.include({ kind: 'member', agent_id: 'n2', base_member: null });
    expect((await call(world.fusion, 'GET', `${G}/nfs/members/n2`)).status).to.equal(404);
    const broken = await call(world.fusion, 'PUT', `${G}/nfs/members/n3`, {});
    expect(broken.status).to.equal(400);
    expect(broken.body.error.code).to.equal('invalid_group_config');
    const rejected = await ok(world.fusion, 'POST', `${M}/changes/${join.change.id}/reject`, { comment: 'not this one' }, 200, other);
    expect(rejected.change).to.include({ status: 'rejected', reviewer: 'reviewer' });
    expect((await call(world.fusion, 'GET', `${G}/nfs/members/n2`)).status).to.equal(404);
    const again = (await ok(world.fusion, 'PUT', `${G}/nfs/members/n2`, { variables: { mount_point: 'n2' } }, 202)).change;
    await ok(world.fusion, 'POST', `${M}/changes/${again.id}/approve`, {}, 200, other);
    await eventually(() => rootOf(n2.document) === '/mnt/n2/data');
    expect(await ok(world.fusion, 'GET', `${G}/nfs/members/n2`)).to.include({ assigned_by: 'admin' });
    expect((await ok(world.fusion, 'GET', `${G}/nfs/changes?status=pending`)).changes.map((c: any) => c.id)).to.deep.equal([second.id, third.id].reverse());
  });

  it('turns a save into a pending change that does nothing until another admin approves it', async () => {
    const m = await reviewedGroup();
    expect((await ok(world.fusion, 'GET', `${G}/nfs`)).require_review).to.equal(true);
    const frames = m.received.length;
    const stream = await TestEventStream.open(world.fusion.url, { headers: { authorization: `Bearer ${world.fusion.adminToken}` } });
    const proposed = await ok(world.fusion, 'PUT', `${G}/nfs/template`, { template: withAudit(MOUNT_TEMPLATE, 900) }, 202);
    expect(proposed.change).to.include({ status: 'pending', group_name: 'nfs', base_revision: 1, kind: 'template', author: 'env:FUSION_ADMIN_TOKEN' });
    expect(proposed.preview.counts).to.include({ total: 1, changed: 1 });
    const id = proposed.change.id;

    // Nothing moved: no revision, no rollout, no frame, the desired config unchanged.
    const group = await ok(world.fusion, 'GET', `${G}/nfs`);
    expect(group).to.include({ revision: 1 });
    expect(group.open_rollout).to.equal(null);
    expect(auditOf((await desired(world.fusion, 'n1')).document)).to.equal(300);
    expect(m.received.length).to.equal(frames);

    // Its preview, against the fleet as it is now.
    const shown = await ok(world.fusion, 'GET', `${M}/changes/${id}`);
    expect(shown.stale).to.equal(false);
    expect(shown.preview.agents[0].patch).to.deep.equal([{ op: 'replace', path: '/pipes/main/audit_interval_sec', value: 900 }]);
    const listed = await ok(world.fusion, 'GET', `${G}/nfs/changes?status=pending`);
    expect(listed.changes.map((c: any) => c.id)).to.deep.equal([id]);

    // The author cannot approve it.
    const self = await call(world.fusion, 'POST', `${M}/changes/${id}/approve`, {});
    expect(self.status).to.equal(403);
    expect(self.body.error.code).to.equal('review_by_author');
    expect(m.received.length).to.equal(frames);

    const approved = await ok(world.fusion, 'POST', `${M}/changes/${id}/approve`, { comment: 'looks right' }, 200, await reviewer());
    try {
      const change = (status: string) => (e: StreamEvent) => e.event === 'group.change' && e.data.data.status === status;
      expect((await stream.next(change('pending'))).data.data).to.include({ change_id: id, group: 'nfs', author: 'env:FUSION_ADMIN_TOKEN', reviewer: null });
      expect((await stream.next(change('approved'))).data.data).to.include({ change_id: id, reviewer: 'reviewer', rollout_id: approved.rollout.id });
    } finally {
      stream.close();
    }
    expect(approved.change).to.include({ status: 'approved', reviewer: 'reviewer', author: 'env:FUSION_ADMIN_TOKEN', revision: 2, review_comment: 'looks right' });
    await eventually(() => auditOf(m.document) === 900);
    const done = await eventually(async () => {
      const v = await rollout(world.fusion, approved.rollout.id);
      return v.status === 'completed' && v;
    });
    expect(done.author).to.equal('env:FUSION_ADMIN_TOKEN');
    const history = await ok(world.fusion, 'GET', `${G}/nfs/history`);
    expect(history.revisions[0]).to.include({ revision: 2, author: 'env:FUSION_ADMIN_TOKEN' });

    // The audit log names the author and the reviewer.
    const audit = (await ok(world.fusion, 'GET', `${M}/audit?target=changes/`)).entries;
    const approval = audit.find((e: any) => e.path.endsWith('/approve') && e.status === 200);
    expect(approval).to.include({ actor: 'reviewer' });
    expect(approval.detail).to.equal(`change ${id} of group nfs by env:FUSION_ADMIN_TOKEN approved by reviewer: revision 2`);
    const proposal = (await ok(world.fusion, 'GET', `${M}/audit?target=groups/nfs/template`)).entries[0];
    expect(proposal).to.include({ actor: 'env:FUSION_ADMIN_TOKEN', status: 202, detail: `change ${id} of group nfs proposed for review` });

    const again = await call(world.fusion, 'POST', `${M}/changes/${id}/approve`, {}, await reviewer('third'));
    expect(again.status).to.equal(409);
    expect(again.body.error.code).to.equal('change_not_pending');
  });

  it('a rejected change, a withdrawn one and one made against an older revision never roll out', async () => {
    const m = await reviewedGroup();
    const other = await reviewer();
    const first = (await ok(world.fusion, 'PUT', `${G}/nfs/template`, { template: withAudit(MOUNT_TEMPLATE, 900) }, 202)).change;
    const second = (await ok(world.fusion, 'PUT', `${G}/nfs/template`, { template: withAudit(MOUNT_TEMPLATE, 600) }, 202)).change;
    const third = (await ok(world.fusion, 'PUT', `${G}/nfs/template`, { template: withAudit(MOUNT_TEMPLATE, 120) }, 202)).change;
    const rejected = await ok(world.fusion, 'POST', `${M}/changes/${first.id}/reject`, { comment: 'not now' }, 200, other);
    expect(rejected.change).to.include({ status: 'rejected', reviewer: 'reviewer', review_comment: 'not now' });
    const withdrawn = await ok(world.fusion, 'POST', `${M}/changes/${second.id}/reject`, {});
    expect(withdrawn.change.status).to.equal('withdrawn');
    expect((await call(world.fusion, 'POST', `${M}/changes/${first.id}/approve`, {}, other)).status).to.equal(409);

    // A roll back of a reviewed group is a change too; approving it moves the group on, so `third` is stale.
    const back = await ok(world.fusion, 'POST', `${G}/nfs/rollback`, { revision: 1 }, 202);
    expect(back.change).to.include({ kind: 'rollback', restored_from: 1 });
    await ok(world.fusion, 'POST', `${M}/changes/${back.change.id}/approve`, {}, 200, other);
    expect((await ok(world.fusion, 'GET', `${M}/changes/${third.id}`)).stale).to.equal(true);
    const stale = await call(world.fusion, 'POST', `${M}/changes/${third.id}/approve`, {}, other);
    expect(stale.status).to.equal(409);
    expect(stale.body.error.code).to.equal('change_stale');
    expect(auditOf((await desired(world.fusion, 'n1')).document)).to.equal(300);
    expect(auditOf(m.document)).to.equal(300);

    // A change whose members do not render is refused like a save, and nothing is stored.
    const broken = await call(world.fusion, 'PUT', `${G}/nfs/template`, { template: MOUNT_TEMPLATE.replace('/data', '/${disk}') });
    expect(broken.status).to.equal(400);
    expect((await ok(world.fusion, 'GET', `${G}/nfs/changes?status=pending`)).changes.map((c: any) => c.id)).to.deep.equal([third.id]);
    // Turning review off makes saves immediate again.
    await ok(world.fusion, 'PATCH', `${G}/nfs`, { require_review: false });
    await ok(world.fusion, 'PUT', `${G}/nfs/template`, { template: withAudit(MOUNT_TEMPLATE, 900) });
    await eventually(() => auditOf(m.document) === 900);
  });
});
