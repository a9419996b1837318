import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { eventually, startFusion, type TestFusion } from '../harness/index.js';
import { fustorctl } from '../cli/cli-harness.js';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver on 127.0.0.1: answers each request with the next status of `plan` (then 200). */
async function receiver(plan: number[] = []): Promise<{ url: string; received: Received[]; close: () => Promise<void> }> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.statusCode = plan.shift() ?? 200;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hook`, received, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('webhooks', function () {
  let fusion: TestFusion;
  const receivers: Array<{ close: () => Promise<void> }> = [];
  before(async () => {
    fusion = await startFusion({ webhooks: { baseDelayMs: 20, maxAttempts: 3, pollMs: 20, timeoutMs: 1000 } });
  });
  after(async () => {
    await fusion.stop();
    for (const r of receivers) await r.close();
  });

  it('posts subscribed events signed with the secret shown at creation, and only those', async () => {
    const hook = await receiver();
    receivers.push(hook);
    const created = await fusion.json('POST', '/api/v1/management/webhooks', { name: 'ops', url: hook.url, events: ['agent.offline', 'command.*'] });
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    expect(created.body.secret).to.match(/^whsec_/);
    expect(JSON.stringify((await fusion.json('GET', '/api/v1/management/webhooks')).body)).to.not.include(created.body.secret);

    const agent = await fusion.rawAgent('hooked');
    agent.close();
    await eventually(() => hook.received.some((r) => r.headers['x-fustor-event'] === 'agent.offline'));
    const offline = hook.received.find((r) => r.headers['x-fustor-event'] === 'agent.offline')!;
    expect(JSON.parse(offline.body)).to.deep.include({ type: 'agent.offline' });
    expect(JSON.parse(offline.body).data.agent_id).to.equal('hooked');
    const timestamp = String(offline.headers['x-fustor-timestamp']);
    const expected = `sha256=${createHmac('sha256', created.body.secret).update(`${timestamp}.${offline.body}`).digest('hex')}`;
    expect(offline.headers['x-fustor-signature']).to.equal(expected);
    expect(hook.received.map((r) => r.headers['x-fustor-event'])).to.not.include('agent.online');
  });

  it('retries with backoff until a 2xx, gives up after the last attempt, and logs every delivery', async () => {
    const flaky = await receiver([500, 503]);
    const down = await receiver([500, 500, 500, 500]);
    receivers.push(flaky, down);
    const a = (await fusion.json('POST', '/api/v1/management/webhooks', { name: 'flaky', url: flaky.url, events: ['*'] })).body;
    const b = (await fusion.json('POST', '/api/v1/management/webhooks', { name: 'down', url: down.url, events: ['*'] })).body;
    expect((await fusion.json('POST', `/api/v1/management/webhooks/${a.id}/test`)).status).to.equal(202);
    expect((await fusion.json('POST', `/api/v1/management/webhooks/${b.id}/test`)).status).to.equal(202);

    const delivered = await eventually(async () => {
      const { body } = await fusion.json('GET', `/api/v1/management/webhooks/${a.id}/deliveries`);
      const ping = body.deliveries.find((d: { event_type: string }) => d.event_type === 'webhook.ping');
      return ping?.status === 'succeeded' && ping;
    });
    expect(delivered).to.include({ attempts: 3, last_status: 200, last_error: null });
    const failed = await eventually(async () => {
      const { body } = await fusion.json('GET', `/api/v1/management/webhooks/${b.id}/deliveries`);
      const ping = body.deliveries.find((d: { event_type: string }) => d.event_type === 'webhook.ping');
      return ping?.status === 'failed' && ping;
    });
    expect(failed).to.include({ attempts: 3, last_status: 500, last_error: 'HTTP 500' });
    expect(down.received.filter((r) => r.headers['x-fustor-event'] === 'webhook.ping')).to.have.length(3);
  });

  it('refuses a bad subscription with a 400 naming the field, and deletes one', async () => {
    const bad = await fusion.json('POST', '/api/v1/management/webhooks', { name: 'x', url: 'ftp://example.org/', events: ['agent.nothing'] });
    expect(bad.status).to.equal(400);
    expect(bad.body.error.message).to.match(/url/).and.match(/events/);
    const made = (await fusion.json('POST', '/api/v1/management/webhooks', { name: 'gone', url: 'http://127.0.0.1:9/', events: ['agent.*'] })).body;
    expect((await fusion.json('DELETE', `/api/v1/management/webhooks/${made.id}`)).status).to.equal(204);
    expect((await fusion.json('GET', `/api/v1/management/webhooks/${made.id}`)).status).to.equal(404);
  });

  it('fustorctl creates, lists, pings and deletes webhooks', async () => {
    const hook = await receiver();
    receivers.push(hook);
    const env = { url: fusion.url, token: fusion.adminToken };
    const created = await fustorctl(['webhook', 'create', 'cli-hook', hook.url, '--event', 'agent.offline', '--event', 'rollout.progress'], env);
    expect(created.status, created.stderr).to.equal(0);
    const id = /webhook (wh_\S+) created/.exec(created.stdout)?.[1];
    expect(id, created.stdout).to.be.a('string');
    expect(created.stdout).to.match(/secret: whsec_\S+ \(shown once\)/);
    expect((await fustorctl(['webhook', 'list'], env)).stdout).to.include('cli-hook');
    expect((await fustorctl(['webhook', 'test', id!], env)).status).to.equal(0);
    await eventually(() => hook.received.some((r) => r.headers['x-fustor-event'] === 'webhook.ping'));
    const log = await fustorctl(['webhook', 'deliveries', id!, '--json'], env);
    expect(JSON.parse(log.stdout).deliveries[0]).to.include({ event_type: 'webhook.ping' });
    expect((await fustorctl(['webhook', 'delete', id!], env)).status).to.equal(0);
  });
});
