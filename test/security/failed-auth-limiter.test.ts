import { expect } from 'chai';
import http from 'node:http';
import { FailedAuthLimiter } from '../../server/auth/failed-auth-limiter.js';
import { RawAgentClient, startFusion, type TestFusion } from '../harness/index.js';

interface Answer {
  status: number;
  retryAfter: string | undefined;
}

/** A GET from a chosen loopback source address (127.0.0.0/8 all reaches this machine). */
function getFrom(localAddress: string, url: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { localAddress, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined }));
    });
    req.on('error', reject);
  });
}

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

describe('security: failed-authentication limiter', () => {
  let fusion: TestFusion;
  const clients: RawAgentClient[] = [];

  beforeEach(async () => {
    fusion = await startFusion({
      failedAuthLimits: { max: 5, maxPerAddress: 12, windowMs: 60_000 },
      trustedProxies: ['127.0.0.9'],
    });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.terminate();
    await fusion.stop();
  });

  it('behind a NAT, one agent retrying a bad token does not lock out the agents and admins at the same address', async () => {
    const agents = `${fusion.url}/api/v1/management/agents`;
    for (let i = 0; i < 10; i++) await getFrom('127.0.0.20', agents, bearer('stale-token'));
    expect((await getFrom('127.0.0.20', agents, bearer('stale-token'))).status).to.equal(429);
    expect((await getFrom('127.0.0.20', agents, bearer(fusion.adminToken))).status).to.equal(200);
    const agent = await RawAgentClient.connect(fusion.url, 'behind-nat', fusion.enrollmentToken, {}, { localAddress: '127.0.0.20' });
    clients.push(agent);
    await agent.hello();
  });

  it('an address guessing many different secrets is refused as a whole', async () => {
    const agents = `${fusion.url}/api/v1/management/agents`;
    for (let i = 0; i < 12; i++) expect((await getFrom('127.0.0.21', agents, bearer(`guess-${i}`))).status).to.equal(401);
    const refused = await getFrom('127.0.0.21', agents, bearer(fusion.adminToken));
    expect(refused.status).to.equal(429);
    expect(Number(refused.retryAfter)).to.be.within(1, 60);
    expect((await getFrom('127.0.0.22', agents, bearer(fusion.adminToken))).status).to.equal(200);
  });

  it('believes X-Forwarded-For only from a trusted proxy', async () => {
    const agents = `${fusion.url}/api/v1/management/agents`;
    // Through the trusted proxy, each forwarded client has its own budget.
    for (let i = 0; i < 12; i++) await getFrom('127.0.0.9', agents, { ...bearer(`guess-${i}`), 'x-forwarded-for': '203.0.113.7' });
    expect((await getFrom('127.0.0.9', agents, { ...bearer(fusion.adminToken), 'x-forwarded-for': '203.0.113.7' })).status).to.equal(429);
    expect((await getFrom('127.0.0.9', agents, { ...bearer(fusion.adminToken), 'x-forwarded-for': '203.0.113.8' })).status).to.equal(200);
    // From anyone else the header is ignored: the spoofer is counted by its own address.
    for (let i = 0; i < 12; i++) await getFrom('127.0.0.23', agents, { ...bearer(`guess-${i}`), 'x-forwarded-for': `198.51.100.${i}` });
    expect((await getFrom('127.0.0.23', agents, { ...bearer(fusion.adminToken), 'x-forwarded-for': '198.51.100.99' })).status).to.equal(429);
  });

  it('counts data-plane API key guesses against the same budget', async () => {
    const ingest = `${fusion.url}/api/v1/pipe/sessions`;
    for (let i = 0; i < 12; i++) expect((await getFrom('127.0.0.24', ingest, { 'x-api-key': `guess-${i}` })).status).to.equal(401);
    const refused = await getFrom('127.0.0.24', ingest, { 'x-api-key': 'guess-99' });
    expect(refused.status).to.equal(429);
    expect(Number(refused.retryAfter)).to.be.within(1, 60);
    expect((await getFrom('127.0.0.24', `${fusion.url}/api/v1/management/agents`, bearer(fusion.adminToken))).status).to.equal(429);
  });

  it('holds a bounded number of counters however many addresses fail', () => {
    const limiter = new FailedAuthLimiter({ max: 5, windowMs: 60_000, maxEntries: 1000 });
    for (let i = 0; i < 20_000; i++) limiter.fail(`10.0.${i >> 8}.${i & 255}`, `token-${i}`);
    expect(limiter.size).to.be.at.most(1000);
    for (let i = 0; i < 5; i++) limiter.fail('192.0.2.1', 'bad');
    expect(limiter.retryAfter('192.0.2.1', 'bad')).to.be.greaterThan(0);
    expect(limiter.retryAfter('192.0.2.1', 'good')).to.equal(0);
  });
});
