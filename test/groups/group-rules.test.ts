import { expect } from 'chai';
import { eventually } from '../harness/eventually.js';
import { MOUNT_TEMPLATE, MemberAgent, assign, call, createGroup, desired, enrollPoller, fusionPerTest, ok, withAudit } from './group-fixture.js';
import { sampleConfig } from '../harness/sample-config.js';

/** A template with no per-agent variable: every agent a rule claims renders it. */
const PLAIN_TEMPLATE = MOUNT_TEMPLATE.replace('/mnt/${mount_point}/data', '/srv/data');

const auditOf = (m: MemberAgent): unknown => (m.document?.pipes as any)?.main?.audit_interval_sec;
const sourceOf = (m: MemberAgent): unknown => (m.document?.sources as any)?.data?.uri;

describe('group rules: a selector claims the agents whose admin labels match', () => {
  const world = fusionPerTest();
  const f = () => world.fusion;

  async function agent(id: string, options: Parameters<typeof MemberAgent.connect>[2] = {}): Promise<MemberAgent> {
    const m = await MemberAgent.connect(f(), id, options);
    world.members.push(m);
    return m;
  }
  const label = (id: string, set: Record<string, string>, remove: string[] = []) =>
    ok(f(), 'PATCH', `/api/v1/management/agents/${id}/labels`, { set, remove });
  const members = async (group: string): Promise<Record<string, string>> =>
    Object.fromEntries(((await ok(f(), 'GET', `/api/v1/management/groups/${group}/members`)).members as any[]).map((m) => [m.agent_id, m.source]));
  const group = (name: string) => ok(f(), 'GET', `/api/v1/management/groups/${name}`);

  it('labelling an agent makes it a member that gets the group config; relabelling makes it leave and keep that config as any leaver does', async () => {
    const created = await ok(f(), 'POST', '/api/v1/management/groups', { name: 'prod', template: PLAIN_TEMPLATE, selector: 'env=prod, !canary' }, 201);
    expect(created.rule_change.counts).to.deep.equal({ join: 0, leave: 0, not_claimed: 0, conflicts: 0 });
    const a = await agent('a1');
    await agent('a2');
    expect(await members('prod')).to.deep.equal({});

    await label('a1', { env: 'prod' });
    expect(await members('prod')).to.deep.equal({ a1: 'rule' });
    await eventually(() => sourceOf(a) === '/srv/data' && a.document?.agent_id === 'a1');
    const view = await group('prod');
    expect(view.selector).to.equal('env=prod, !canary');
    expect(view.rule).to.deep.include({ selector: 'env=prod, !canary', claimed: 1, conflict_count: 0 });
    // Config saves to the group reach claimed members like any member.
    await ok(f(), 'PUT', '/api/v1/management/groups/prod/template', { template: withAudit(PLAIN_TEMPLATE, 900) });
    await eventually(() => auditOf(a) === 900);

    // The bulk label route claims too.
    const bulk = await ok(f(), 'POST', '/api/v1/management/agents/labels', { selector: 'env notin (prod)', set: { env: 'prod' } });
    expect(bulk.changed).to.equal(1);
    expect(await members('prod')).to.deep.equal({ a1: 'rule', a2: 'rule' });

    // A label that no longer matches: a1 leaves, keeps what the group last rendered, and is an ordinary agent again.
    await label('a1', { canary: 'yes' });
    expect(await members('prod')).to.deep.equal({ a2: 'rule' });
    expect((await desired(f(), 'a1')).document.pipes.main.audit_interval_sec).to.equal(900);
    expect((await ok(f(), 'GET', '/api/v1/management/agents/a1')).group).to.equal(null);
    // While a member, its own config is refused; once out, it takes one again and the agent gets it.
    expect((await call(f(), 'POST', '/api/v1/management/agents/a2/config/structured', sampleConfig())).status).to.equal(409);
    await ok(f(), 'POST', '/api/v1/management/agents/a1/config/structured', sampleConfig({ root: '/own' }), 201);
    await eventually(() => (a.document?.sources as any)?.['src-0']?.uri === '/own/data-0');
    await ok(f(), 'PUT', '/api/v1/management/agents/a1/labels', { labels: {} });
    expect(await members('prod')).to.deep.equal({ a2: 'rule' });

    // Removing the rule releases what it claimed.
    const removed = await ok(f(), 'PATCH', '/api/v1/management/groups/prod', { selector: null });
    expect(removed.selector).to.equal(null);
    expect(removed.rule_change.leave).to.deep.equal([{ agent_id: 'a2', group: 'prod' }]);
    expect(await members('prod')).to.deep.equal({});
  });

  it('setting a rule claims the agents that match now; a dry run names them and stores nothing; a changed rule releases those it no longer matches', async () => {
    await createGroup(f(), 'web', PLAIN_TEMPLATE);
    const w1 = await agent('w1');
    await agent('w2');
    await agent('w3');
    await label('w1', { role: 'web', region: 'eu' });
    await label('w2', { role: 'web', region: 'us' });
    await label('w3', { role: 'db' });

    const dry = await ok(f(), 'PATCH', '/api/v1/management/groups/web?dry_run=true', { selector: 'role=web' });
    expect(dry.dry_run).to.equal(true);
    expect(dry.join).to.deep.equal([{ agent_id: 'w1', group: 'web' }, { agent_id: 'w2', group: 'web' }]);
    expect((await group('web')).selector).to.equal(null);
    expect(await members('web')).to.deep.equal({});

    const set = await ok(f(), 'PATCH', '/api/v1/management/groups/web', { selector: 'role=web' });
    expect(set.rule_change.counts.join).to.equal(2);
    expect(await members('web')).to.deep.equal({ w1: 'rule', w2: 'rule' });
    await eventually(() => sourceOf(w1) === '/srv/data');

    const narrower = await ok(f(), 'PATCH', '/api/v1/management/groups/web?dry_run=true', { selector: 'role=web,region=eu' });
    expect(narrower.leave).to.deep.equal([{ agent_id: 'w2', group: 'web' }]);
    expect(narrower.join).to.deep.equal([]);
    await ok(f(), 'PATCH', '/api/v1/management/groups/web', { selector: 'role=web,region=eu' });
    expect(await members('web')).to.deep.equal({ w1: 'rule' });

    // A claimed member cannot be taken out while the rule matches it (it would be claimed again) ...
    const refused = await call(f(), 'DELETE', '/api/v1/management/groups/web/members/w1');
    expect(refused.status).to.equal(409);
    expect(refused.body.error.code).to.equal('claimed_by_rule');
    // ... but an admin's assignment makes it explicit, and labels then no longer move it.
    await assign(f(), 'web', 'w1');
    await label('w1', { role: 'db' });
    expect(await members('web')).to.deep.equal({ w1: 'explicit' });
  });

  it('conflicts stay put and show in the group view: explicit members, agents two rules match, members another rule also matches', async () => {
    await createGroup(f(), 'nfs', MOUNT_TEMPLATE);
    await createGroup(f(), 'eu', PLAIN_TEMPLATE);
    await createGroup(f(), 'db', PLAIN_TEMPLATE);
    for (const id of ['x1', 'x2', 'x3']) await agent(id);
    await assign(f(), 'nfs', 'x1', { variables: { mount_point: 'x1' } });
    await ok(f(), 'PATCH', '/api/v1/management/groups/eu', { selector: 'region=eu' });
    await ok(f(), 'PATCH', '/api/v1/management/groups/db', { selector: 'role=db' });

    await label('x1', { region: 'eu' }); // explicit member of nfs: stays
    await label('x2', { region: 'eu' }); // claimed by eu ...
    await label('x2', { role: 'db' }); // ... and stays there when db's rule matches too
    await label('x3', { region: 'eu', role: 'db' }); // two rules match an agent in no group: it joins neither
    expect(await members('nfs')).to.deep.equal({ x1: 'explicit' });
    expect(await members('eu')).to.deep.equal({ x2: 'rule' });
    expect(await members('db')).to.deep.equal({});

    const eu = (await group('eu')).rule;
    expect(eu.conflict_count).to.equal(2);
    const byAgent = Object.fromEntries(eu.conflicts.map((c: any) => [c.agent_id, c]));
    expect(byAgent.x1.held_by).to.equal('nfs');
    expect(byAgent.x1.reason).to.include('assigned by admin');
    expect(byAgent.x3.reason).to.include('matches the rules of groups db, eu');
    const db = (await group('db')).rule;
    expect(db.conflicts.map((c: any) => c.agent_id)).to.deep.equal(['x2', 'x3']);
    expect(db.conflicts[0].reason).to.include('claimed by the rule of group eu');

    // Once one rule no longer matches, the rules decide again: x2 moves to db, x3 joins db.
    await ok(f(), 'POST', '/api/v1/management/agents/labels', { selector: 'region=eu,!x', remove: ['region'] });
    expect(await members('db')).to.deep.equal({ x2: 'rule', x3: 'rule' });
    expect(await members('eu')).to.deep.equal({});
    expect(await members('nfs')).to.deep.equal({ x1: 'explicit' });

    // A rule whose template needs a variable the agent lacks: not claimed, with the reason.
    await ok(f(), 'PATCH', '/api/v1/management/groups/db', { selector: null });
    const nfs = await ok(f(), 'PATCH', '/api/v1/management/groups/nfs', { selector: 'role=db' });
    expect(nfs.rule_change.not_claimed.map((n: any) => n.agent_id)).to.deep.equal(['x2', 'x3']);
    expect(nfs.rule_change.not_claimed[0].reason).to.include('mount_point');
    expect(await members('nfs')).to.deep.equal({ x1: 'explicit' });
    expect((await group('nfs')).rule.conflicts.map((c: any) => c.agent_id)).to.deep.equal(['x2', 'x3']);
  });

  it('a bad selector is a 400 naming its position, and nothing is stored', async () => {
    await createGroup(f(), 'g', PLAIN_TEMPLATE);
    const bad = await call(f(), 'PATCH', '/api/v1/management/groups/g', { selector: 'env=prod,region in (eu' });
    expect(bad.status).to.equal(400);
    expect(JSON.stringify(bad.body)).to.include('bad_selector').and.include('at position 22');
    expect(bad.body.error.details[0].position).to.equal(22);
    const created = await call(f(), 'POST', '/api/v1/management/groups', { name: 'h', template: PLAIN_TEMPLATE, selector: 'env=' + 'x'.repeat(70) });
    expect(created.status).to.equal(400);
    expect((await call(f(), 'GET', '/api/v1/management/groups/h')).status).to.equal(404);
    const empty = await call(f(), 'PATCH', '/api/v1/management/groups/g', { selector: '  ' });
    expect(empty.status).to.equal(400);
    expect((await group('g')).selector).to.equal(null);
  });

  it('what an agent reports about itself never claims it: attribute selectors are refused and rules see labels only', async () => {
    await createGroup(f(), 'prod', PLAIN_TEMPLATE);
    const liar = await agent('liar', { attributes: { env: 'prod' }, group: 'prod' });
    const attr = await call(f(), 'PATCH', '/api/v1/management/groups/prod', { selector: 'attr.env=prod' });
    expect(attr.status).to.equal(400);
    expect(JSON.stringify(attr.body)).to.include('self-reported attribute');
    await ok(f(), 'PATCH', '/api/v1/management/groups/prod', { selector: 'env=prod' });
    expect((await ok(f(), 'GET', '/api/v1/management/agents/liar')).attributes.env).to.equal('prod');
    expect(await members('prod')).to.deep.equal({});
    // Reconnecting with the same claims changes nothing either.
    liar.close();
    await agent('liar', { attributes: { env: 'prod' }, group: 'prod' });
    expect(await members('prod')).to.deep.equal({});
  });

  it('an agent that appears in no group joins the one group whose rule matches it, on its first hello', async () => {
    await createGroup(f(), 'all', PLAIN_TEMPLATE, { self_join: true });
    await createGroup(f(), 'boot', withAudit(PLAIN_TEMPLATE, 60), { self_join: true });
    await ok(f(), 'PATCH', '/api/v1/management/groups/all', { selector: '!quarantine' });
    const fresh = await agent('fresh');
    expect(await members('all')).to.deep.equal({ fresh: 'rule' });
    await eventually(() => sourceOf(fresh) === '/srv/data');
    // A bootstrap naming a self-join group comes first: the agent's membership then is not the rule's.
    await agent('booted', { group: 'boot' });
    expect(await members('boot')).to.deep.equal({ booted: 'bootstrap' });
    expect((await group('all')).rule.conflicts.map((c: any) => c.agent_id)).to.deep.equal(['booted']);
  });

  it('an agent on the polling transport is claimed on its first pull, and released by a label', async () => {
    await createGroup(f(), 'all', PLAIN_TEMPLATE);
    await ok(f(), 'PATCH', '/api/v1/management/groups/all', { selector: '!quarantine' });
    const secret = await enrollPoller(f(), 'poller');
    const pull = () => fetch(`${f().url}/api/v1/control/configs/pull?agent_id=poller`, { headers: { authorization: `Bearer ${secret}` } });
    const first = await pull();
    expect(first.status).to.equal(200);
    expect(((await first.json()) as any).document.sources.data.uri).to.equal('/srv/data');
    expect(await members('all')).to.deep.equal({ poller: 'rule' });
    await label('poller', { quarantine: 'yes' });
    expect(await members('all')).to.deep.equal({});
    // Out of the group and matching no rule, its next pull does not put it back.
    expect((await pull()).status).to.equal(200);
    expect(await members('all')).to.deep.equal({});
  });
});
