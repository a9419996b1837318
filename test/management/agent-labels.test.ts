import { expect } from 'chai';
import { startFusion, startAgent, eventually, type TestFusion } from '../harness/index.js';
import { fustorctl } from '../cli/cli-harness.js';

/** Agents a-00 … a-11: even ones env=prod, odd ones env=staging; a-00 … a-03 region eu, the rest us; a-00 canary. */
const FLEET = Array.from({ length: 12 }, (_, i) => `a-${String(i).padStart(2, '0')}`);

describe('agent attributes, labels, selectors and paged listing', function () {
  let fusion: TestFusion;

  before(async () => {
    fusion = await startFusion();
    for (const [i, id] of FLEET.entries()) {
      const agent = await fusion.rawAgent(id, { hello: false });
      await agent.hello({}, { attributes: { os: 'linux', rack: `r${i % 3}` } });
      const labels = { env: i % 2 === 0 ? 'prod' : 'staging', region: i < 4 ? 'eu' : 'us', ...(i === 0 && { canary: 'true' }) };
      const put = await fusion.json('PUT', `/api/v1/management/agents/${id}/labels`, { labels });
      expect(put.status, JSON.stringify(put.body)).to.equal(200);
    }
    // a-11 goes offline.
    const eleven = await fusion.rawAgent('zz-offline', { hello: false });
    await eleven.hello();
    eleven.close();
    await eventually(async () => (await fusion.json('GET', '/api/v1/management/agents/zz-offline')).body.online === false);
  });
  after(() => fusion.stop());

  const ids = (body: { agents: Array<{ agent_id: string }> }) => body.agents.map((a) => a.agent_id);

  it('keeps what an agent reports (attributes) apart from what admins set (labels)', async () => {
    const { body } = await fusion.json('GET', '/api/v1/management/agents/a-00');
    expect(body.labels).to.deep.equal({ canary: 'true', env: 'prod', region: 'eu' });
    expect(body.attributes).to.include({ os: 'linux', rack: 'r0' });
  });

  it('lists by selector, status and search, a page at a time with a cursor', async () => {
    const prodEu = await fusion.json('GET', `/api/v1/management/agents?selector=${encodeURIComponent('env=prod,region in (eu,us),!canary')}`);
    expect(ids(prodEu.body)).to.deep.equal(['a-02', 'a-04', 'a-06', 'a-08', 'a-10']);
    expect(prodEu.body.next_cursor).to.equal(null);

    const pages: string[][] = [];
    let cursor: string | null = null;
    do {
      const query: string = `limit=4&sort=-agent_id${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = await fusion.json('GET', `/api/v1/management/agents?${query}`);
      expect(page.status).to.equal(200);
      pages.push(ids(page.body));
      cursor = page.body.next_cursor;
    } while (cursor && pages.length < 10);
    expect(pages.flat()).to.deep.equal(['zz-offline', ...[...FLEET].reverse()]);
    expect(pages.map((p) => p.length)).to.deep.equal([4, 4, 4, 1]);

    // Pages of 2 online agents: the heads are read a slice at a time, and the offline one is skipped in between.
    const online: string[] = [];
    cursor = null;
    for (let hops = 0; hops < 20; hops++) {
      const page = await fusion.json('GET', `/api/v1/management/agents?status=online&sort=-agent_id&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      online.push(...ids(page.body));
      cursor = page.body.next_cursor;
      if (!cursor) break;
    }
    expect(online).to.deep.equal([...FLEET].reverse());
    expect(ids((await fusion.json('GET', '/api/v1/management/agents?status=offline')).body)).to.deep.equal(['zz-offline']);
    expect(ids((await fusion.json('GET', '/api/v1/management/agents?status=online&q=A-1')).body)).to.deep.equal(['a-10', 'a-11']);
    // Attributes are searchable in a listing.
    expect(ids((await fusion.json('GET', `/api/v1/management/agents?selector=${encodeURIComponent('attr.rack=r1,env=staging')}`)).body)).to.deep.equal(['a-01', 'a-07']);
    // Ordered by last seen: every page in order, no agent twice.
    const bySeen = await fusion.json('GET', '/api/v1/management/agents?sort=last_seen&limit=5');
    const rest = await fusion.json('GET', `/api/v1/management/agents?sort=last_seen&limit=50&cursor=${encodeURIComponent(bySeen.body.next_cursor)}`);
    expect(new Set([...ids(bySeen.body), ...ids(rest.body)]).size).to.equal(13);
  });

  it('refuses a bad selector, cursor or limit with a 400 naming it', async () => {
    const bad = await fusion.json('GET', `/api/v1/management/agents?selector=${encodeURIComponent('env=prod,')}`);
    expect(bad.status).to.equal(400);
    expect(bad.body.error.code).to.equal('bad_selector');
    expect(bad.body.error.message).to.match(/position 9/);
    const cursor = await fusion.json('GET', '/api/v1/management/agents?cursor=bm9wZQ');
    expect([cursor.status, cursor.body.error.code]).to.deep.equal([400, 'bad_cursor']);
    const foreign = (await fusion.json('GET', '/api/v1/management/agents?limit=2')).body.next_cursor;
    const mixed = await fusion.json('GET', `/api/v1/management/agents?sort=last_seen&cursor=${foreign}`);
    expect(mixed.body.error.code).to.equal('bad_cursor');
    expect((await fusion.json('GET', '/api/v1/management/agents?limit=100000')).status).to.equal(400);
    const label = await fusion.json('PUT', '/api/v1/management/agents/a-00/labels', { labels: { __proto__: 'x', ok: 'y' } });
    expect(label.status).to.equal(200); // a literal __proto__ in an object literal sets the prototype, it is no key
    const proto = await fusion.api('/api/v1/management/agents/a-00/labels', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '{"labels":{"__proto__":"x"}}',
    });
    expect(proto.status).to.equal(400);
    expect(JSON.stringify(await proto.json())).to.include('__proto__');
    await fusion.json('PUT', '/api/v1/management/agents/a-00/labels', { labels: { canary: 'true', env: 'prod', region: 'eu' } });
    expect((await fusion.json('PUT', '/api/v1/management/agents/nobody/labels', { labels: {} })).status).to.equal(404);
  });

  it('changes labels in bulk by selector and targets commands by labels only', async () => {
    const bulk = await fusion.json('POST', '/api/v1/management/agents/labels', { selector: 'region=eu', set: { tier: 'gold' }, remove: ['canary'] });
    expect(bulk.body).to.deep.equal({ selector: 'region=eu', matched: 4, changed: 4 });
    const again = await fusion.json('POST', '/api/v1/management/agents/labels', { selector: 'region=eu', set: { tier: 'gold' } });
    expect(again.body.changed).to.equal(0);
    expect(ids((await fusion.json('GET', '/api/v1/management/agents?selector=tier=gold')).body)).to.deep.equal(['a-00', 'a-01', 'a-02', 'a-03']);
    expect((await fusion.json('GET', '/api/v1/management/agents/a-00')).body.labels).to.not.have.property('canary');

    const fanOut = await fusion.json('POST', '/api/v1/management/commands', { type: 'report_config', agents: { selector: 'tier=gold,env=staging' } });
    expect(fanOut.status).to.equal(202);
    expect(fanOut.body.commands.map((c: { agent_id: string }) => c.agent_id).sort()).to.deep.equal(['a-01', 'a-03']);

    const byAttribute = await fusion.json('POST', '/api/v1/management/commands', { type: 'report_config', agents: { selector: 'attr.os=linux' } });
    expect(byAttribute.status).to.equal(400);
    expect(byAttribute.body.error.message).to.match(/self-reported attribute/);
    const none = await fusion.json('POST', '/api/v1/management/commands', { type: 'report_config', agents: { selector: 'env=nowhere' } });
    expect([none.status, none.body.error.code]).to.deep.equal([400, 'no_agents']);
  });

  it('loses no label change made at the same time: to one agent, and by selector beside changes to single agents', async () => {
    const keys = Array.from({ length: 16 }, (_, i) => `k${String(i).padStart(2, '0')}`);
    const answers = await Promise.all(keys.map((key) => fusion.json('PATCH', '/api/v1/management/agents/a-05/labels', { set: { [key]: 'x' } })));
    expect(answers.map((a) => a.status)).to.deep.equal(keys.map(() => 200));
    expect(Object.keys((await fusion.json('GET', '/api/v1/management/agents/a-05')).body.labels)).to.include.members(keys);

    // A bulk change over every us agent races single-agent changes to some of them: each lands.
    const single = ['a-06', 'a-07', 'a-08', 'a-09'];
    const [bulk, ...patches] = await Promise.all([
      fusion.json('POST', '/api/v1/management/agents/labels', { selector: 'region=us', set: { wave: '1' } }),
      ...single.map((id) => fusion.json('PATCH', `/api/v1/management/agents/${id}/labels`, { set: { [`own-${id}`]: 'y' } })),
    ]);
    expect([bulk!.status, ...patches.map((p) => p.status)]).to.deep.equal([200, 200, 200, 200, 200]);
    for (const id of single) {
      expect((await fusion.json('GET', `/api/v1/management/agents/${id}`)).body.labels).to.include({ wave: '1', [`own-${id}`]: 'y' });
    }
    const cleared = await fusion.json('POST', '/api/v1/management/agents/labels', { selector: 'region=us', remove: ['wave', ...keys, ...single.map((id) => `own-${id}`)] });
    expect(cleared.body).to.include({ matched: 8, changed: 8 });
  });

  it('fustorctl lists by selector, labels agents and fans a command out by selector', async () => {
    const env = { url: fusion.url, token: fusion.adminToken };
    const listed = await fustorctl(['agents', '--selector', 'region=eu,env=prod', '--json'], env);
    expect(listed.status, listed.stderr).to.equal(0);
    expect(JSON.parse(listed.stdout).agents.map((a: { agent_id: string }) => a.agent_id)).to.deep.equal(['a-00', 'a-02']);
    const paged = await fustorctl(['agents', '--limit', '5'], env);
    expect(paged.stderr).to.match(/more agents: --cursor \S+/);
    const all = await fustorctl(['agents', '--limit', '5', '--all', '--json'], env);
    expect(JSON.parse(all.stdout).agents).to.have.length(13);

    const one = await fustorctl(['label', 'a-05', 'team=storage', 'region-'], env);
    expect(one.stdout).to.equal('a-05: env=staging,team=storage\n');
    const many = await fustorctl(['label', '--selector', 'team=storage', 'oncall=yes'], env);
    expect(many.stdout).to.match(/^1 agents match "team=storage"; labels changed on 1/);
    const text = await fustorctl(['agents', '--selector', 'oncall'], env);
    expect(text.stdout).to.match(/a-05 .*env=staging,oncall=yes,team=storage/);

    const sent = await fustorctl(['command', '--selector', 'oncall=yes', 'report_config'], env);
    expect(sent.status, sent.stderr).to.equal(0);
    expect(sent.stdout).to.match(/^1 report_config commands queued/);
  });

  it('a real agent reports its host facts and the bootstrap attributes', async () => {
    const agent = await startAgent(fusion, { agentId: 'real-1', attributes: { rack: 'r9', os: 'custom-os' } });
    try {
      await eventually(async () => (await fusion.json('GET', '/api/v1/management/agents/real-1')).body.online);
      const { body } = await fusion.json('GET', '/api/v1/management/agents/real-1');
      expect(body.attributes).to.include({ rack: 'r9', os: 'custom-os', arch: process.arch });
      expect(body.attributes.agent_version).to.be.a('string');
      expect(body.labels).to.deep.equal({});
    } finally {
      await agent.stop();
    }
  });
});
