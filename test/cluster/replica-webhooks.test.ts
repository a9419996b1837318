import { expect } from 'chai';
import { createHmac, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { WEBHOOK_KEY_FILE } from '../../server/webhooks/webhook-signing.js';
import { eventually } from '../harness/eventually.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { createTempDatabase, requirePostgres, type TempDatabase } from '../harness/postgres.js';
import { sampleConfig } from '../harness/sample-config.js';
import { tempHome } from '../harness/temp-home.js';

describe('webhooks of replicas on PostgreSQL', function () {
  this.timeout(60_000);
  let database: TempDatabase;
  let server: Server;
  const received: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
  let hookUrl: string;
  const replicas: TestFusion[] = [];
  const homes: Array<{ remove(): Promise<void> }> = [];

  before(async function () {
    await requirePostgres(this);
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    hookUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  });
  after(async () => {
    await new Promise((resolve) => server?.close(resolve));
  });
  beforeEach(async () => {
    database = await createTempDatabase();
    received.length = 0;
  });
  afterEach(async () => {
    for (const r of replicas.splice(0)) await r.stop();
    for (const h of homes.splice(0)) await h.remove();
    await database.drop();
  });

  it('sends each event once, from the replica that published it, signed with the secret shown on another replica', async () => {
    // Every replica's home holds the same webhook signing key (docs/operations.md, HA deployment).
    const key = `${randomBytes(32).toString('base64')}\n`;
    for (const id of ['a', 'b']) {
      const home = await tempHome(`fusion-hooks-${id}-`);
      homes.push(home);
      await writeFile(join(home.path, WEBHOOK_KEY_FILE), key, { mode: 0o600 });
      replicas.push(await startFusion({ databaseUrl: database.url, replicaId: id, home: home.path, webhooks: { pollMs: 20, reloadMs: 50, baseDelayMs: 20 } }));
    }
    const [a, b] = replicas as [TestFusion, TestFusion];
    const created = await a.json('POST', '/api/v1/management/webhooks', { name: 'ops', url: hookUrl, events: ['agent.config_saved'] });
    expect(created.status).to.equal(201);
    // B reads the subscriptions again within its reload interval; until then its events would not be queued.
    await eventually(async () => {
      const saved = await b.json('POST', '/api/v1/management/agents/probe/config/structured', sampleConfig());
      expect(saved.status).to.equal(201);
      await eventually(() => expect(received.some((r) => JSON.parse(r.body).data.agent_id === 'probe')).to.equal(true), { timeoutMs: 300 });
      return true;
    });
    received.length = 0;

    const saves: Array<Promise<unknown>> = [];
    for (let i = 0; i < 10; i++) {
      saves.push(a.json('POST', `/api/v1/management/agents/a-${i}/config/structured`, sampleConfig()));
      saves.push(b.json('POST', `/api/v1/management/agents/b-${i}/config/structured`, sampleConfig()));
    }
    await Promise.all(saves);
    await eventually(() => expect(received).to.have.length.of.at.least(20));
    const agents = received.map((r) => JSON.parse(r.body).data.agent_id as string).sort();
    expect(agents).to.deep.equal([...Array(10).keys()].flatMap((i) => [`a-${i}`, `b-${i}`]).sort());
    expect(new Set(received.map((r) => r.headers['x-fustor-delivery'])).size).to.equal(20);
    // Queued once per event (by the replica that published it), not once per replica that saw it.
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const queued = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM webhook_deliveries WHERE payload NOT LIKE '%"probe"%'`);
      expect(queued.rows[0]!.n).to.equal(20);
    } finally {
      await client.end();
    }
    for (const r of received) {
      const expected = `sha256=${createHmac('sha256', created.body.secret).update(`${String(r.headers['x-fustor-timestamp'])}.${r.body}`).digest('hex')}`;
      expect(r.headers['x-fustor-signature']).to.equal(expected);
    }
  });
});
