import { expect } from 'chai';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually } from '../harness/eventually.js';
import { FusionProcess } from '../harness/fusion-process.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { createTempDatabase, requirePostgres, type TempDatabase } from '../harness/postgres.js';
import { sampleConfig } from '../harness/sample-config.js';
import { startAgent, type TestAgent } from '../harness/start-agent.js';
import { tempHome } from '../harness/temp-home.js';
import { FUSION_YAML, INGEST_KEY, openSession, pushEvents } from '../management/management-harness.js';

describe('the data plane of replicas on PostgreSQL (one holder, the others forward)', function () {
  this.timeout(60_000);
  let database: TempDatabase;
  const replicas: TestFusion[] = [];
  const homes: Array<{ remove(): Promise<void> }> = [];
  const agents: TestAgent[] = [];

  before(async function () {
    await requirePostgres(this);
  });
  beforeEach(async () => {
    database = await createTempDatabase();
  });
  afterEach(async () => {
    for (const a of agents.splice(0)) await a.stop();
    for (const r of replicas.splice(0)) await r.stop();
    for (const h of homes.splice(0)) await h.remove();
    await database.drop();
  });

  /** A replica whose fusion.yaml is the cluster's (every replica is deployed with the same file). */
  const replica = async (replicaId: string): Promise<TestFusion> => {
    const home = await tempHome('fusion-dp-');
    homes.push(home);
    await writeFile(join(home.path, 'fusion.yaml'), FUSION_YAML, { mode: 0o600 });
    const fusion = await startFusion({ databaseUrl: database.url, replicaId, home: home.path });
    replicas.push(fusion);
    return fusion;
  };
  const stats = async (fusion: TestFusion): Promise<{ status: number; holder: string | null; body: any }> => {
    const res = await fetch(`${fusion.url}/api/v1/views/tree/stats`, { headers: { 'x-api-key': INGEST_KEY } });
    return { status: res.status, holder: res.headers.get('x-fusion-dataplane'), body: await res.json() };
  };

  it('serves ingest and views on the lease holder; a session opened on another replica feeds the holder\'s view', async () => {
    const a = await replica('a');
    const b = await replica('b');
    const opened = await openSession(b.url, INGEST_KEY, 'node-1', 'main');
    expect(opened.status).to.equal(201);
    expect(await pushEvents(b.url, INGEST_KEY, opened.body.session_id, ['data/one', 'data/two'])).to.equal(200);

    const onA = await stats(a);
    expect(onA.status).to.equal(200);
    expect(onA.body.files).to.equal(2);
    expect(onA.holder).to.equal(null);
    // B answers the same view (forwarded), naming the holder.
    const onB = await stats(b);
    expect(onB.body).to.deep.equal(onA.body);
    expect(onB.holder).to.equal(a.url);
    const sessions = await fetch(`${a.url}/api/v1/views/tree/sessions`, { headers: { 'x-api-key': INGEST_KEY } });
    expect(((await sessions.json()) as any).sessions.map((s: any) => s.agent_id)).to.deep.equal(['node-1']);

    // The dashboard's data plane is the holder's, whichever replica answers.
    const dashboard = await b.json('GET', '/api/v1/management/dashboard');
    expect(dashboard.status, JSON.stringify(dashboard.body)).to.equal(200);
    expect(dashboard.body.sessions.map((s: any) => s.agent_id)).to.deep.equal(['node-1']);

    // fusion.yaml is the holder's: changing it on B is refused with the holder's address.
    const refused = await b.json('POST', '/api/v1/management/reload');
    expect(refused.status).to.equal(503);
    expect(refused.body.error.code).to.equal('not_dataplane_holder');
    expect(refused.body.error.details.holder_url).to.equal(a.url);
    expect((await a.json('POST', '/api/v1/management/reload')).status).to.equal(200);
    const anonymous = await fetch(`${b.url}/api/v1/management/config`);
    expect(anonymous.status).to.equal(401);
    await anonymous.arrayBuffer();
  });

  it('moves to another replica when the holder goes: the old session is unknown there, the sender opens a new one and sends its snapshot again', async () => {
    const a = await replica('a');
    const b = await replica('b');
    const c = await replica('c');
    const first = await openSession(c.url, INGEST_KEY, 'node-1', 'main');
    expect(await pushEvents(c.url, INGEST_KEY, first.body.session_id, ['data/one'])).to.equal(200);
    expect((await stats(c)).body.files).to.equal(1);

    await a.stop();
    replicas.splice(replicas.indexOf(a), 1);
    // B or C takes the lease within about a second; until then C answers 503 with Retry-After, which senders retry.
    const holder = await eventually(async () => {
      const s = await stats(c);
      expect(s.status).to.equal(200);
      return s.holder ?? c.url;
    });
    expect([b.url, c.url]).to.include(holder);
    // The view started empty on the new holder; the old session is gone (404: the sender reopens).
    expect((await stats(b)).body.files).to.equal(0);
    expect(await pushEvents(c.url, INGEST_KEY, first.body.session_id, ['data/one'])).to.equal(404);
    const again = await openSession(c.url, INGEST_KEY, 'node-1', 'main');
    expect(again.status).to.equal(201);
    expect(await pushEvents(c.url, INGEST_KEY, again.body.session_id, ['data/one', 'data/two'])).to.equal(200);
    expect((await stats(b)).body.files).to.equal(2);
    expect((await stats(c)).body.files).to.equal(2);
  });

  it('a real agent sending to a replica that does not hold the data plane fills the view, and fills the new holder\'s after the holder goes', async () => {
    const a = await replica('a');
    const b = await replica('b');
    const files = await tempHome('fusion-dp-files-');
    homes.push(files);
    await mkdir(join(files.path, 'data-0', 'sub'), { recursive: true });
    for (const name of ['one.txt', 'two.txt', 'sub/three.txt']) await writeFile(join(files.path, 'data-0', name), name);
    const agent = await startAgent(b, { agentId: 'node-1' });
    agents.push(agent);
    const saved = await b.json('POST', '/api/v1/management/agents/node-1/config/structured', sampleConfig({ root: files.path, fusionUrl: b.url, apiKey: INGEST_KEY }));
    expect(saved.status).to.equal(201);
    await eventually(async () => {
      const s = await stats(a);
      expect(s.body.files).to.equal(3);
      return true;
    });

    await a.stop();
    replicas.splice(replicas.indexOf(a), 1);
    // B takes the lease with an empty view; the agent's sender finds its session gone, opens one on B and sends its snapshot again.
    await eventually(
      async () => {
        const s = await stats(b);
        expect(s.status).to.equal(200);
        expect(s.holder).to.equal(null);
        expect(s.body.files).to.equal(3);
        return true;
      },
      { timeoutMs: 30_000 },
    );
  });

  it('moves when the holder is killed (kill -9): the lease goes with its connection, a sender\'s new session feeds the new holder', async () => {
    const crashed = await FusionProcess.start({ env: { FUSION_DATABASE_URL: database.url, FUSION_REPLICA_ID: 'a' }, files: { 'fusion.yaml': FUSION_YAML } });
    try {
      const b = await replica('b');
      const first = await openSession(b.url, INGEST_KEY, 'node-1', 'main');
      expect(first.status).to.equal(201);
      expect(await pushEvents(b.url, INGEST_KEY, first.body.session_id, ['data/one'])).to.equal(200);
      const before = await stats(b);
      expect(before.holder).to.equal(crashed.url);
      expect(before.body.files).to.equal(1);

      await crashed.kill();
      const after = await eventually(async () => {
        const s = await stats(b);
        expect(s.status).to.equal(200);
        expect(s.holder).to.equal(null);
        return s;
      });
      expect(after.body.files).to.equal(0);
      expect(await pushEvents(b.url, INGEST_KEY, first.body.session_id, ['data/one'])).to.equal(404);
      const again = await openSession(b.url, INGEST_KEY, 'node-1', 'main');
      expect(await pushEvents(b.url, INGEST_KEY, again.body.session_id, ['data/one', 'data/two'])).to.equal(200);
      expect((await stats(b)).body.files).to.equal(2);
    } finally {
      await crashed.stop();
    }
  });
});
