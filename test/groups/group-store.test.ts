import { expect } from 'chai';
import { ChangeStore, type ChangeRecord } from '../../server/groups/change-store.js';
import { GroupStore, renderFingerprint, type MemberRecord, type TemplateRevision } from '../../server/groups/group-store.js';
import { RuleStore } from '../../server/groups/rule-store.js';
import type { Sql } from '../../server/store/sql.js';
import { describeOnBackends } from '../harness/test-sql.js';

const revision = (group: string, n: number, at = n): TemplateRevision => ({
  group_name: group,
  revision: n,
  signature: `sha256:${group}${n}`,
  template: `# ${group} ${n}\n{}`,
  author: 'admin',
  created_at: at,
  restored_from: null,
});

async function createGroup(store: GroupStore, name: string, options: { require_review?: boolean; self_join?: boolean } = {}): Promise<void> {
  await store.create({ name, description: `about ${name}`, revision: 1, signature: `sha256:${name}1`, created_at: 1, updated_at: 1, ...options }, revision(name, 1));
}

const member = (agentId: string, group: string, extra: Partial<MemberRecord> = {}): MemberRecord => ({
  agent_id: agentId,
  group_name: group,
  variables: {},
  override: null,
  assigned_by: 'admin',
  assigned_at: 1,
  rendered_revision: 1,
  ...extra,
});

async function addAgent(sql: Sql, agentId: string, fields: { hostname?: string; labels?: Record<string, string>; status?: string; status_signature?: string } = {}): Promise<void> {
  await sql.run('INSERT INTO agents (agent_id, hostname, labels, status, status_signature) VALUES (?, ?, ?, ?, ?)', [
    agentId,
    fields.hostname ?? null,
    fields.labels ? JSON.stringify(fields.labels) : null,
    fields.status ?? null,
    fields.status_signature ?? null,
  ]);
}

async function addDesired(sql: Sql, agentId: string, rev: number, signature: string): Promise<void> {
  await sql.run('INSERT INTO config_documents (signature, document) VALUES (?, ?) ON CONFLICT (signature) DO NOTHING', [signature, '{}']);
  await sql.run("INSERT INTO agent_config_revisions (agent_id, revision, signature, format, source_text, author, created_at) VALUES (?, ?, ?, 'json', '', 'test', 0)", [agentId, rev, signature]);
}

describeOnBackends('group store', (db) => {
  it('creates groups with their first revision, keeps every revision, and lists them with member counts', async () => {
    const store = new GroupStore(db.sql);
    await createGroup(store, 'web', { require_review: true });
    await createGroup(store, 'db', { self_join: true });
    await db.sql.transaction(() => store.addRevision(revision('web', 2, 50)));
    expect(await store.get('web')).to.deep.include({ revision: 2, signature: 'sha256:web2', updated_at: 50, require_review: true, self_join: false, selector: null });
    expect(await store.get('db')).to.deep.include({ revision: 1, require_review: false, self_join: true });
    expect(await store.get('nope')).to.equal(undefined);
    expect((await store.revision('web', 1))!.template).to.equal('# web 1\n{}');
    expect((await store.history('web')).map((r) => r.revision)).to.deep.equal([2, 1]);
    expect(await store.history('web', 1)).to.deep.equal([{ group_name: 'web', revision: 2, signature: 'sha256:web2', author: 'admin', created_at: 50, restored_from: null }]);

    await store.upsertMember(member('a', 'web'));
    await store.upsertMember(member('b', 'web'));
    expect((await store.list()).map((g) => [g.name, g.members])).to.deep.equal([
      ['db', 0],
      ['web', 2],
    ]);
    expect(await store.memberCount('web')).to.equal(2);

    await store.setDescription('db', 'databases');
    await store.setRequireReview('db', true);
    await store.setSelfJoin('db', false);
    expect(await store.get('db')).to.deep.include({ description: 'databases', require_review: true, self_join: false });
  });

  it('a second group of the same name is refused by the database', async () => {
    const store = new GroupStore(db.sql);
    await createGroup(store, 'web');
    let refused: unknown;
    await createGroup(store, 'web').catch((err: unknown) => (refused = err));
    expect(refused).to.be.instanceOf(Error);
    expect((await store.history('web')).length).to.equal(1);
  });

  it('keeps one membership per agent, moves it, records rendered revisions in chunks, and removes it', async () => {
    const store = new GroupStore(db.sql);
    await createGroup(store, 'web');
    await createGroup(store, 'db');
    await store.upsertMember(member('a', 'web', { variables: { port: '80' }, override: { pipes: {} } }));
    expect(await store.member('a')).to.deep.equal(member('a', 'web', { variables: { port: '80' }, override: { pipes: {} } }));
    await store.upsertMember(member('a', 'db', { assigned_by: 'rule', rendered_revision: null }));
    expect(await store.member('a')).to.include({ group_name: 'db', assigned_by: 'rule', rendered_revision: null, override: null });
    expect(await store.members('web')).to.deep.equal([]);

    const many = Array.from({ length: 1100 }, (_, i) => `m-${String(i).padStart(4, '0')}`);
    for (const id of many) await store.upsertMember(member(id, 'web'));
    await db.sql.transaction(() => store.setRendered('web', many, 7));
    const members = await store.members('web');
    expect(members).to.have.length(1100);
    expect(members.every((m) => m.rendered_revision === 7)).to.equal(true);
    // Read for rendering a page of 1,000 at a time: every member once, in agent order, the last page too.
    const forRender = await store.membersForRender('web');
    expect(forRender.map((m) => m.agent_id)).to.deep.equal(many);
    const inputs = await store.renderInputs('web');
    expect(inputs).to.equal(await renderFingerprint(forRender));
    await store.upsertMember(member(many.at(-1)!, 'web', { variables: { port: '81' } }));
    expect(await store.renderInputs('web'), 'a member on the last page changed').to.not.equal(inputs);
    // Only the group's members: the same agent ids in another group are left alone.
    await db.sql.transaction(() => store.setRendered('web', ['a'], 9));
    expect((await store.member('a'))!.rendered_revision).to.equal(null);

    expect(await store.removeMember('web', 'a')).to.equal(false);
    expect(await store.removeMember('db', 'a')).to.equal(true);
    expect(await store.member('a')).to.equal(undefined);
  });

  it('reads members for rendering with the agent and its desired config in one query, the in-memory applying over the written status', async () => {
    const applying = new Map<string, { signature: string }>();
    const store = new GroupStore(db.sql, (id) => applying.get(id));
    await createGroup(store, 'web');
    await addAgent(db.sql, 'a', { hostname: 'host-a', status: 'failed', status_signature: 'sha256:x' });
    await addDesired(db.sql, 'a', 1, 'sha256:old');
    await addDesired(db.sql, 'a', 2, 'sha256:new');
    await store.upsertMember(member('a', 'web'));
    await store.upsertMember(member('b', 'web'));
    const [a, b] = await store.membersForRender('web');
    expect(a).to.include({ agent_id: 'a', hostname: 'host-a', status: 'failed', status_signature: 'sha256:x', desired_signature: 'sha256:new' });
    expect(b).to.include({ agent_id: 'b', hostname: null, status: null, desired_signature: null });
    applying.set('a', { signature: 'sha256:y' });
    expect((await store.membersForRender('web'))[0]).to.include({ status: 'applying', status_signature: 'sha256:y', status_error: null });
    expect(await store.memberForRender('a')).to.include({ status: 'applying', desired_signature: 'sha256:new' });
    expect(await store.memberForRender('nobody')).to.equal(undefined);
  });

  it('reads one rollout batch of members, and tells when what members render from changed', async () => {
    const store = new GroupStore(db.sql);
    await createGroup(store, 'web');
    for (const id of ['a', 'b', 'c']) await store.upsertMember(member(id, 'web'));
    await db.sql.run(
      `INSERT INTO rollouts (id, group_name, from_revision, to_revision, strategy, status, batch_count, current_batch, author, created_at, updated_at)
       VALUES ('r', 'web', 1, 2, '{}', 'running', 2, 0, 'admin', 0, 0)`,
    );
    await db.sql.run("INSERT INTO rollout_agents (rollout_id, agent_id, batch, state, updated_at) VALUES ('r', 'a', 0, 'applying', 0), ('r', 'b', 1, 'pending', 0), ('r', 'c', 1, 'pending', 0)");
    expect((await store.batchForRender('web', 'r', 1)).map((m) => m.agent_id)).to.deep.equal(['b', 'c']);

    const batch = { rolloutId: 'r', batch: 1 };
    const before = await store.renderInputs('web');
    const beforeBatch = await store.renderInputs('web', batch);
    expect(before).to.equal(await renderFingerprint(await store.membersForRender('web')));
    expect(beforeBatch).to.equal(await renderFingerprint(await store.batchForRender('web', 'r', 1)));
    await store.upsertMember(member('a', 'web', { variables: { port: '81' } }));
    expect(await store.renderInputs('web')).to.not.equal(before);
    expect(await store.renderInputs('web', batch)).to.equal(beforeBatch);
    await store.upsertMember(member('c', 'web', { override: { x: 1 } }));
    expect(await store.renderInputs('web', batch)).to.not.equal(beforeBatch);
  });

  it('deletes a group with its history', async () => {
    const store = new GroupStore(db.sql);
    await createGroup(store, 'web');
    expect(await store.delete('web')).to.equal(true);
    expect(await store.delete('web')).to.equal(false);
    expect(await store.revision('web', 1)).to.equal(undefined);
  });

  it('holds the group lock inside a transaction', async () => {
    const store = new GroupStore(db.sql);
    await createGroup(store, 'web');
    const order: string[] = [];
    const first = db.sql.transaction(async () => {
      await store.lock('web');
      order.push('first locked');
      await store.setDescription('web', 'first');
      order.push('first wrote');
    });
    const second = db.sql.transaction(async () => {
      await store.lock('web');
      order.push('second locked');
      await store.setDescription('web', 'second');
    });
    await Promise.all([first, second]);
    expect(order.indexOf('first wrote')).to.be.below(order.indexOf('second locked'));
    expect((await store.get('web'))!.description).to.equal('second');
  });
});

describeOnBackends('change store', (db) => {
  const change = (id: string, createdAt: number, extra: Partial<ChangeRecord> = {}): ChangeRecord => ({
    id,
    group_name: 'web',
    kind: 'template',
    base_revision: 1,
    template: '{}',
    signature: 'sha256:t',
    restored_from: null,
    rolls_back: null,
    strategy: { strategy: 'all' },
    status: 'pending',
    author: 'alice',
    author_token_id: 'tok-a',
    reviewer: null,
    reviewer_token_id: null,
    review_comment: null,
    revision: null,
    rollout_id: null,
    created_at: createdAt,
    decided_at: null,
    agent_id: null,
    member: null,
    base_member: null,
    ...extra,
  });

  it('stores changes, lists them newest first by status, and decides a pending one once', async () => {
    await createGroup(new GroupStore(db.sql), 'web');
    const store = new ChangeStore(db.sql);
    const memberChange = change('c2', 20, {
      kind: 'member',
      agent_id: 'a',
      member: { variables: { port: '80' }, override: null },
      base_member: { group_name: 'web', variables: {}, override: { x: 1 } },
    });
    await store.insert(change('c1', 10));
    await store.insert(memberChange);
    expect(await store.get('c2')).to.deep.equal(memberChange);
    expect(await store.get('none')).to.equal(undefined);
    expect((await store.forGroup('web')).map((c) => c.id)).to.deep.equal(['c2', 'c1']);
    expect((await store.forGroup('web', undefined, 1)).map((c) => c.id)).to.deep.equal(['c2']);

    const approved: ChangeRecord = { ...change('c1', 10), status: 'approved', reviewer: 'bob', reviewer_token_id: 'tok-b', review_comment: 'ok', revision: 2, rollout_id: 'r1', decided_at: 30 };
    expect(await store.decide(approved)).to.equal(true);
    expect(await store.decide({ ...approved, status: 'rejected' })).to.equal(false);
    expect(await store.get('c1')).to.deep.equal(approved);
    expect((await store.forGroup('web', 'pending')).map((c) => c.id)).to.deep.equal(['c2']);
    expect((await store.forGroup('web', 'approved')).map((c) => c.id)).to.deep.equal(['c1']);
  });
});

describeOnBackends('rule store', (db) => {
  it('sets and removes a rule, reads labels and memberships of the whole fleet', async () => {
    const groups = new GroupStore(db.sql);
    await createGroup(groups, 'web');
    await createGroup(groups, 'db');
    const rules = new RuleStore(db.sql);
    expect(await rules.set('web', 'role=web')).to.equal(true);
    expect(await rules.set('db', 'role=db')).to.equal(true);
    expect(await rules.set('nope', 'role=x')).to.equal(false);
    expect(await rules.all()).to.deep.equal([
      { group_name: 'db', selector: 'role=db' },
      { group_name: 'web', selector: 'role=web' },
    ]);
    expect(await rules.set('db', null)).to.equal(true);
    expect(await rules.all()).to.deep.equal([{ group_name: 'web', selector: 'role=web' }]);
    expect((await groups.get('web'))!.selector).to.equal('role=web');

    await addAgent(db.sql, 'a', { labels: { role: 'web' } });
    await addAgent(db.sql, 'b');
    expect((await rules.labelled()).map((r) => [r.agent_id, { ...r.labels }])).to.deep.equal([
      ['a', { role: 'web' }],
      ['b', {}],
    ]);
    await groups.upsertMember(member('a', 'web', { assigned_by: 'rule' }));
    expect([...(await rules.memberships())]).to.deep.equal([['a', { group_name: 'web', assigned_by: 'rule' }]]);
  });
});
