import { expect } from 'chai';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { sampleConfig } from '../harness/sample-config.js';
import { MOUNT_TEMPLATE, assign, call, createGroup, desired, ok, withAudit } from './group-fixture.js';

const GROUPS = '/api/v1/management/groups';

/**
 * Changes of one group made at the same time: each is written under the
 * group's lock after checking that what it was computed from is still so,
 * else it is computed again. No two saves take one revision number, and no
 * member is left rendered from a template a save replaced.
 */
describe('concurrent changes of one group', () => {
  let fusion: TestFusion;
  beforeEach(async () => {
    fusion = await startFusion();
  });
  afterEach(async () => {
    await fusion.stop();
  });

  it('gives saves made at once one revision each, and every member the last one', async () => {
    await createGroup(fusion, 'nfs', MOUNT_TEMPLATE);
    for (let i = 0; i < 20; i++) await assign(fusion, 'nfs', `node-${i}`, { variables: { mount_point: `m${i}` } });
    const seconds = [60, 120, 180, 240, 360, 420];
    const saves = await Promise.all(
      seconds.map((s) => call(fusion, 'PUT', `${GROUPS}/nfs/template`, { template: withAudit(MOUNT_TEMPLATE, s) })),
    );
    for (const res of saves) expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(saves.map((res) => res.body.revision).sort((a: number, b: number) => a - b)).to.deep.equal([2, 3, 4, 5, 6, 7]);
    const history = await ok(fusion, 'GET', `${GROUPS}/nfs/history`);
    expect(history.revisions.map((r: any) => r.revision)).to.deep.equal([7, 6, 5, 4, 3, 2, 1]);

    // The last revision is what every member renders now.
    const last = saves.find((res) => res.body.revision === 7)!;
    const audit = seconds[saves.indexOf(last)];
    for (let i = 0; i < 20; i++) {
      const doc = await desired(fusion, `node-${i}`);
      expect(doc.author).to.equal('group:nfs@7');
      expect(doc.document.pipes.main.audit_interval_sec).to.equal(audit);
    }
    const rollouts = await ok(fusion, 'GET', `${GROUPS}/nfs/rollouts`);
    // One rollout per save, each from the revision before it.
    expect(rollouts.rollouts.map((r: any) => [r.from_revision, r.to_revision])).to.deep.equal([
      [6, 7],
      [5, 6],
      [4, 5],
      [3, 4],
      [2, 3],
      [1, 2],
    ]);
    expect(rollouts.next_cursor).to.equal(null);
    // A page at a time, newest first.
    const pages: number[][] = [];
    let cursor: string | null = null;
    do {
      const page: any = await ok(fusion, 'GET', `${GROUPS}/nfs/rollouts?limit=4${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      pages.push(page.rollouts.map((r: any) => r.to_revision));
      cursor = page.next_cursor;
    } while (cursor && pages.length < 5);
    expect(pages).to.deep.equal([
      [7, 6, 5, 4],
      [3, 2],
    ]);
  });

  it('joins forty agents that say hello at once, stored together, each with its own rendered config', async () => {
    await createGroup(fusion, 'fleet', 'sources:\n  s: { driver: fs, uri: "/srv/${agent_id}" }\n', { self_join: true });
    const ids = Array.from({ length: 40 }, (_, i) => `joiner-${String(i).padStart(2, '0')}`);
    const clients = await Promise.all(ids.map((id) => fusion.rawAgent(id, { hello: false })));
    await Promise.all(clients.map((c) => c.hello({}, { group: 'fleet' })));
    const members = await ok(fusion, 'GET', `${GROUPS}/fleet/members`);
    expect(members.members.map((m: any) => m.agent_id).sort()).to.deep.equal(ids);
    for (const id of ids) {
      const doc = await desired(fusion, id);
      expect(doc.author).to.equal('group:fleet@1');
      expect(doc.document.sources.s.uri).to.equal(`/srv/${id}`);
    }
  });

  it('never leaves a member that joins during a save on the template the save replaced', async () => {
    await createGroup(fusion, 'nfs', MOUNT_TEMPLATE);
    for (let i = 0; i < 10; i++) await assign(fusion, 'nfs', `node-${i}`, { variables: { mount_point: `m${i}` } });
    const joining = Array.from({ length: 8 }, (_, i) => `late-${i}`);
    const [save, ...joins] = await Promise.all([
      call(fusion, 'PUT', `${GROUPS}/nfs/template`, { template: withAudit(MOUNT_TEMPLATE, 90) }),
      ...joining.map((id) => call(fusion, 'PUT', `${GROUPS}/nfs/members/${id}`, { variables: { mount_point: id } })),
    ]);
    expect(save!.status, JSON.stringify(save!.body)).to.equal(200);
    for (const res of joins) expect(res.status, JSON.stringify(res.body)).to.equal(200);
    const members = await ok(fusion, 'GET', `${GROUPS}/nfs/members`);
    expect(members.members).to.have.length(18);
    for (const m of members.members) {
      expect(m.rendered_revision, m.agent_id).to.equal(2);
      expect((await desired(fusion, m.agent_id)).document.pipes.main.audit_interval_sec, m.agent_id).to.equal(90);
    }
  });

  it('never leaves an agent that joins a group at the same time as its own config is saved on that config', async () => {
    await createGroup(fusion, 'nfs', MOUNT_TEMPLATE);
    // The join goes first; the save follows after 0 to 9 ms, so that some rounds check the membership before the join commits and store after it.
    for (let i = 0; i < 10; i++) {
      const id = `both-${i}`;
      const [joined, direct] = await Promise.all([
        call(fusion, 'PUT', `${GROUPS}/nfs/members/${id}`, { variables: { mount_point: id } }),
        new Promise((resolve) => setTimeout(resolve, i)).then(() => call(fusion, 'POST', `/api/v1/management/agents/${id}/config/structured`, sampleConfig())),
      ]);
      expect(joined!.status, JSON.stringify(joined!.body)).to.equal(200);
      // The direct save either came first (the join renders over it) or is refused: the member runs the group's config.
      if (direct!.status !== 201) expect([direct!.status, direct!.body.error.code], id).to.deep.equal([409, 'agent_in_group']);
      expect((await desired(fusion, id)).author, `${id}: direct save ${direct!.status}`).to.equal('group:nfs@1');
    }
  });

  it('moves an agent to another group whatever its old group does at the same time (a member change, a template save)', async () => {
    await createGroup(fusion, 'old', MOUNT_TEMPLATE);
    await createGroup(fusion, 'new', MOUNT_TEMPLATE);
    for (let i = 0; i < 10; i++) {
      const id = `mover-${i}`;
      await assign(fusion, 'old', id, { variables: { mount_point: id } });
      // The old group's change goes first; the move follows after 0 to 9 ms.
      const oldChange =
        i % 2 === 0
          ? call(fusion, 'PATCH', `${GROUPS}/old/members/${id}`, { variables: { mount_point: `${id}-changed` } })
          : call(fusion, 'PUT', `${GROUPS}/old/template`, { template: withAudit(MOUNT_TEMPLATE, 100 + i) });
      const [changed, moved] = await Promise.all([
        oldChange,
        new Promise((resolve) => setTimeout(resolve, i)).then(() => call(fusion, 'PUT', `${GROUPS}/new/members/${id}`, { variables: { mount_point: id } })),
      ]);
      expect(moved!.status, JSON.stringify(moved!.body)).to.equal(200);
      expect([200, 404], JSON.stringify(changed!.body)).to.include(changed!.status);
      const where = await call(fusion, 'GET', `${GROUPS}/new/members/${id}`);
      expect(where.status, `${id}: old group's change ${changed!.status}, then moved`).to.equal(200);
      // It runs what the new group renders for it (the same text as the old group's first one, so no
      // new revision when nothing else changed): neither the old group's change of it nor its new template.
      const doc = (await desired(fusion, id)).document;
      expect([doc.sources.data.uri, doc.pipes.main.audit_interval_sec], `${id}: old group's change ${changed!.status}, then moved`).to.deep.equal([`/mnt/${id}/data`, 300]);
    }
  });

  it('never brings back a member removed at the same time as it is changed', async () => {
    await createGroup(fusion, 'nfs', MOUNT_TEMPLATE);
    for (let i = 0; i < 10; i++) {
      const id = `gone-${i}`;
      await assign(fusion, 'nfs', id, { variables: { mount_point: id } });
      // The change goes first; the removal follows after 0 to 9 ms.
      const [changed, removed] = await Promise.all([
        call(fusion, 'PATCH', `${GROUPS}/nfs/members/${id}`, { variables: { mount_point: `${id}-moved` } }),
        new Promise((resolve) => setTimeout(resolve, i)).then(() => call(fusion, 'DELETE', `${GROUPS}/nfs/members/${id}`)),
      ]);
      expect(removed!.status, JSON.stringify(removed!.body)).to.equal(204);
      // The change came first (then removed with the member) or found the member gone.
      expect([200, 404], JSON.stringify(changed!.body)).to.include(changed!.status);
      const after = await call(fusion, 'GET', `${GROUPS}/nfs/members/${id}`);
      expect(after.status, `${id}: change ${changed!.status}, then removed`).to.equal(404);
    }
  });

  it('leaves the members its rule claimed matching the rule, when two rule changes of a group are made at once', async () => {
    await createGroup(fusion, 'ruled', MOUNT_TEMPLATE.replace('/mnt/${mount_point}/data', '/srv/data'));
    const agents = { x1: 'x', x2: 'x', y1: 'y', y2: 'y' } as const;
    const sockets = [];
    for (const [id, k] of Object.entries(agents)) {
      sockets.push(await fusion.rawAgent(id));
      await ok(fusion, 'PATCH', `/api/v1/management/agents/${id}/labels`, { set: { k } });
    }
    try {
      // One change goes first, the other after 0 to 9 ms: some rounds plan with the rule the other is replacing.
      for (let i = 0; i < 20; i++) {
        const [first, second] = i % 2 ? ['k=x', 'k=y'] : ['k=y', 'k=x'];
        const answers = await Promise.all([
          call(fusion, 'PATCH', `${GROUPS}/ruled`, { selector: first }),
          new Promise((resolve) => setTimeout(resolve, i % 10)).then(() => call(fusion, 'PATCH', `${GROUPS}/ruled`, { selector: second })),
        ]);
        for (const answer of answers) expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
        const selector = (await ok(fusion, 'GET', `${GROUPS}/ruled`)).selector as string;
        const claimed = ((await ok(fusion, 'GET', `${GROUPS}/ruled/members`)).members as Array<{ agent_id: string; source: string }>)
          .filter((m) => m.source === 'rule')
          .map((m) => m.agent_id)
          .sort();
        const matching = Object.entries(agents).filter(([, k]) => `k=${k}` === selector).map(([id]) => id);
        expect(claimed, `round ${i}: the rule is "${selector}"`).to.deep.equal(matching);
      }
    } finally {
      for (const socket of sockets) socket.close();
    }
  });
});
