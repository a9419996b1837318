import { expect } from 'chai';
import { eventually } from '../harness/eventually.js';
import http from 'node:http';
import { Writable } from 'node:stream';
import pino from 'pino';
import { CloseCode } from '../harness/protocol-imports.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { RawAgentClient } from '../harness/raw-client.js';

/** An HTTP GET from a chosen loopback source address (127.0.0.0/8 all reaches this machine). */
function getFrom(localAddress: string, url: string, token: string): Promise<{ status: number; retryAfter: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { localAddress, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined }));
    });
    req.on('error', reject);
  });
}

describe('security: hostile input', () => {
  let fusion: TestFusion;
  const lines: string[] = [];
  const clients: RawAgentClient[] = [];

  beforeEach(async () => {
    lines.length = 0;
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    fusion = await startFusion({
      failedAuthLimits: { max: 5, windowMs: 60_000 },
      agentMessageRate: { perSecond: 20, burst: 40 },
      logger: pino({ level: 'debug' }, sink),
    });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.terminate();
    await fusion.stop();
  });

  const connect = async (agentId: string): Promise<RawAgentClient> => {
    const client = await RawAgentClient.connectAs(fusion.url, agentId, fusion.enrollmentToken);
    clients.push(client);
    await client.hello();
    return client;
  };

  it('rate-limits a failing secret per address with 429 and Retry-After; other secrets and addresses go on', async () => {
    const url = `${fusion.url}/api/v1/management/agents`;
    for (let i = 0; i < 5; i++) expect((await getFrom('127.0.0.2', url, 'guess')).status).to.equal(401);
    const limited = await getFrom('127.0.0.2', url, 'guess');
    expect(limited.status).to.equal(429);
    expect(Number(limited.retryAfter)).to.be.within(1, 60);
    expect((await getFrom('127.0.0.2', url, fusion.adminToken)).status, 'another secret from the same address').to.equal(200);
    expect((await getFrom('127.0.0.3', url, 'guess')).status).to.equal(401);
    const upgrade = await RawAgentClient.connect(fusion.url, 'node-1', 'guess', {}, { localAddress: '127.0.0.2' }).catch((e: { status?: number }) => e.status);
    expect(upgrade).to.equal(429);
  });

  it('closes an oversized frame, a binary frame and a flood, each on its own socket; others stay up', async () => {
    const bystander = await connect('bystander');
    const big = await connect('big');
    big.sendRaw(JSON.stringify({ type: 'status', pipes: [], pad: 'x'.repeat(5 * 1024 * 1024) }));
    expect(await big.closed()).to.equal(CloseCode.FrameTooLarge);
    const binary = await connect('binary');
    binary.sendRaw(Buffer.from([1, 2, 3]));
    expect(await binary.closed()).to.equal(CloseCode.ProtocolError);
    const flood = await connect('flood');
    for (let i = 0; i < 200; i++) flood.send({ type: 'status', pipes: [] });
    expect(await flood.closed()).to.equal(CloseCode.RateLimited);
    const push = await fusion.api('/api/v1/management/agents/bystander/config/structured', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sources: {}, senders: {}, pipes: {} }),
    });
    expect(push.status).to.equal(201);
    await bystander.next('config');
  });

  it('refuses malformed and oversized bodies and a YAML alias bomb, storing nothing', async () => {
    const post = (path: string, type: string, body: string): Promise<Response> => fusion.api(path, { method: 'POST', headers: { 'content-type': type }, body });
    const badJson = await post('/api/v1/management/commands', 'application/json', '{"type":');
    expect(badJson.status).to.equal(400);
    expect(((await badJson.json()) as any).error.code).to.equal('invalid_json');
    const huge = await post('/api/v1/management/commands', 'application/json', JSON.stringify({ type: 'scan', args: { path: 'x'.repeat(2 * 1024 * 1024) } }));
    expect(huge.status).to.equal(413);
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 30; i++) lines.push(`l${i}: &l${i} [${Array(10).fill(i === 1 ? '*a' : `*l${i - 1}`).join(',')}]`);
    const bomb = await post('/api/v1/control/configs/node-1', 'application/yaml', lines.join('\n'));
    expect(bomb.status).to.equal(400);
    expect(JSON.stringify(await bomb.json())).to.match(/alias/i);
    expect((await fusion.api('/api/v1/control/configs/node-1')).status).to.equal(404);
    expect((await fusion.api('/healthz')).status).to.equal(200);
  });

  it('never writes a token or credential to the log', async () => {
    const agent = await RawAgentClient.connectAs(fusion.url, 'node-1', fusion.enrollmentToken);
    clients.push(agent);
    const credential = (await agent.hello()).credential!;
    await fusion.api('/api/v1/management/agents');
    await fetch(`${fusion.url}/api/v1/management/agents`, { headers: { authorization: 'Bearer wrong-secret-value' } });
    const created = (await (await fusion.api('/api/v1/management/enrollment-tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"n"}' })).json()) as any;
    const log = lines.join('');
    expect(log.length).to.be.greaterThan(0);
    for (const secret of [fusion.adminToken, fusion.enrollmentToken, credential, 'wrong-secret-value', created.secret]) {
      expect(log).to.not.include(secret);
    }
  });

  it('records admin writes in the audit log with who, what and the outcome', async () => {
    await fusion.api('/api/v1/management/agents/node-1/config', { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: 'sources: {}\n' });
    await fusion.api('/api/v1/management/agents/node-1/config', { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: 'pipes: {p: {source: a, sender: b}}\n' });
    await fetch(`${fusion.url}/api/v1/management/agents/node-1/revoke`, { method: 'POST', headers: { authorization: 'Bearer nope' } });
    await fusion.api('/api/v1/management/agents/node-1/command', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":"report_config"}' });
    const all = ((await (await fusion.api('/api/v1/management/audit')).json()) as any).entries;
    expect(all.map((e: any) => [e.method, e.target, e.outcome, e.actor])).to.deep.equal([
      ['POST', 'agents/node-1/command', 'success', 'env:FUSION_ADMIN_TOKEN'],
      ['POST', 'agents/node-1/revoke', 'denied', null],
      ['POST', 'agents/node-1/config', 'failure', 'env:FUSION_ADMIN_TOKEN'],
      ['POST', 'agents/node-1/config', 'success', 'env:FUSION_ADMIN_TOKEN'],
    ]);
    expect(all[1].error_code).to.equal('unauthorized');
    const failures = ((await (await fusion.api('/api/v1/management/audit?outcome=failure')).json()) as any).entries;
    expect(failures).to.have.length(1);
    expect(failures[0].error_code).to.equal('invalid_config');
    const byTarget = ((await (await fusion.api('/api/v1/management/audit?target=agents/node-1/co')).json()) as any).entries;
    expect(byTarget).to.have.length(3);
    expect(all[0].query).to.equal(null);
  });

  it('records the query string of an audited write, with a token in it redacted', async () => {
    await fusion.api('/api/v1/management/agents/node-2/config?access_token=s3cret-value&note=a%20b', {
      method: 'POST',
      headers: { 'content-type': 'application/yaml' },
      body: 'sources: {}\n',
    });
    // The audit entry is written once the answer is finished, so it may land a moment after it.
    const entry = await eventually(async () => (((await (await fusion.api('/api/v1/management/audit?target=agents/node-2')).json()) as any).entries as unknown[])[0]);
    expect(entry).to.include({ path: '/api/v1/management/agents/node-2/config', query: 'access_token=%5Bredacted%5D&note=a+b' });
    expect(JSON.stringify(entry)).to.not.include('s3cret-value');
  });
});
