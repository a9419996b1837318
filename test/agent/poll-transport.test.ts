import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { configSignature } from '../../shared/config/index.js';
import { AGENT_ID_HEADER, CONTROL_ENROLL_PATH, CONTROL_PULL_PATH, CONTROL_STATUS_PATH, ConfigStatusReport } from '../../shared/protocol/index.js';
import type { Agent } from '../../agent/agent.js';
import { eventually } from '../harness/eventually.js';
import { tempHome } from '../harness/temp-home.js';
import { AGENT_ID, configDoc, fastAgent, signed } from './agent-fixture.js';

interface Desired {
  revision: number;
  signature: string;
  document: Record<string, unknown>;
}

/**
 * A pull endpoint per contract 2: 304 when current, 200 with the document, 404
 * when none is stored; and a status endpoint that keeps each valid report
 * (204) and answers `statusAnswer` when it is set.
 */
class PullServer {
  desired: Desired | null = null;
  readonly requests: Array<{ url: URL; authorization?: string; agentId?: string; status: number }> = [];
  readonly reports: ConfigStatusReport[] = [];
  statusAnswer: number | null = null;
  private readonly server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'POST' && url.pathname === CONTROL_ENROLL_PATH) {
      // Enrollment hands over a credential that equals the token, so the pull checks below hold for both.
      req.resume();
      const ok = req.headers.authorization === 'Bearer poll-token';
      if (!ok) this.requests.push({ url, authorization: req.headers.authorization, status: 401 });
      res
        .writeHead(ok ? 201 : 401, { 'content-type': 'application/json' })
        .end(JSON.stringify(ok ? { status: 'enrolled', agent_id: AGENT_ID, credential: 'poll-token', expires_at: Date.now() + 3_600_000 } : { error: { code: 'unauthorized', message: 'bad token' } }));
      return;
    }
    if (req.method === 'POST' && url.pathname === CONTROL_STATUS_PATH && req.headers.authorization === 'Bearer poll-token') {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        if (this.statusAnswer !== null) {
          res.writeHead(this.statusAnswer).end();
          return;
        }
        this.reports.push(ConfigStatusReport.parse(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
        res.writeHead(204).end();
      });
      return;
    }
    const record = (status: number): void => {
      this.requests.push({ url, authorization: req.headers.authorization, agentId: req.headers[AGENT_ID_HEADER] as string | undefined, status });
    };
    if (url.pathname !== CONTROL_PULL_PATH || req.headers.authorization !== 'Bearer poll-token') {
      record(401);
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'unauthorized', message: 'bad token' } }));
      return;
    }
    if (!this.desired) {
      record(404);
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'not_found', message: 'no config' } }));
      return;
    }
    if (url.searchParams.get('current_signature') === this.desired.signature) {
      record(304);
      res.writeHead(304).end();
      return;
    }
    record(200);
    res
      .writeHead(200, { 'content-type': 'application/json', 'x-config-signature': this.desired.signature })
      .end(JSON.stringify({ agent_id: url.searchParams.get('agent_id'), ...this.desired }));
  });

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  statuses(): number[] {
    return this.requests.map((r) => r.status);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

describe('agent poll transport', () => {
  let home: { path: string; remove(): Promise<void> };
  let server: PullServer;
  let agent: Agent | undefined;

  beforeEach(async () => {
    home = await tempHome('agent-poll-');
    server = await new PullServer().start();
  });

  afterEach(async () => {
    await agent?.stop();
    await server.stop();
    await home.remove();
    agent = undefined;
  });

  function pollingAgent(token = 'poll-token'): Agent {
    return fastAgent(home.path, { controlPlaneUri: server.url, authToken: token, transport: 'poll', pollIntervalSec: 0.04, connectTimeoutMs: 2000 });
  }

  it('applies a 200, then polls with its signature and gets 304s', async () => {
    const desired = { revision: 2, ...signed(configDoc(home.path, { pipes: { p1: 'src' } })) };
    server.desired = desired;
    agent = pollingAgent();
    await agent.start();
    expect(agent.snapshot().config).to.deep.include({ source: 'remote', revision: 2, signature: desired.signature });
    await eventually(() => server.statuses().filter((s) => s === 304).length >= 2);
    const [first, second] = server.requests;
    expect(first).to.include({ authorization: 'Bearer poll-token', agentId: AGENT_ID, status: 200 });
    expect(first!.url.searchParams.get('agent_id')).to.equal(AGENT_ID);
    expect(first!.url.searchParams.has('current_signature')).to.equal(false);
    expect(second!.url.searchParams.get('current_signature')).to.equal(desired.signature);
    expect(agent.snapshot()).to.include({ connected: true, sessionId: null });
  });

  it('picks up a new desired config on the next poll', async () => {
    server.desired = { revision: 1, ...signed(configDoc(home.path)) };
    agent = pollingAgent();
    await agent.start();
    const next = { revision: 2, ...signed(configDoc(home.path, { sources: ['src', 'more'] })) };
    server.desired = next;
    await eventually(() => agent!.snapshot().config.signature === next.signature);
    expect(agent.snapshot().config.revision).to.equal(2);
  });

  it('treats 404 as "no config stored" and falls back to local config', async () => {
    agent = pollingAgent();
    await agent.start();
    expect(server.statuses()[0]).to.equal(404);
    expect(agent.snapshot()).to.deep.include({ connected: true });
    expect(agent.snapshot().config.source).to.equal('none');
  });

  it('does not retry a desired config that failed until it changes', async () => {
    const invalid = { ...configDoc(home.path), pipes: { p1: { source: 'missing', sender: 'out' } } };
    server.desired = { revision: 1, signature: configSignature(invalid), document: invalid };
    agent = pollingAgent();
    const failures: string[] = [];
    agent.on('config_failed', (event) => failures.push(event.error));
    await agent.start();
    await eventually(() => server.requests.length >= 4);
    expect(failures).to.have.length(1);
    expect(failures[0]).to.include('unknown source "missing"');
    const fixed = { revision: 2, ...signed(configDoc(home.path)) };
    server.desired = fixed;
    await eventually(() => agent!.snapshot().config.signature === fixed.signature);
  });

  it('names its bootstrap group and host name in every poll and posts the ACK of a config it applied', async () => {
    const desired = { revision: 3, ...signed(configDoc(home.path)) };
    server.desired = desired;
    agent = fastAgent(home.path, {
      controlPlaneUri: server.url,
      authToken: 'poll-token',
      transport: 'poll',
      pollIntervalSec: 0.04,
      group: 'nfs',
      hostname: 'nfs-host-1',
    });
    await agent.start();
    await eventually(() => server.reports.length === 1);
    expect(server.reports[0]).to.deep.equal({ agent_id: AGENT_ID, signature: desired.signature, revision: 3, status: 'applied' });
    await eventually(() => server.statuses().filter((s) => s === 304).length >= 2);
    for (const request of server.requests) {
      expect(request.url.searchParams.get('group')).to.equal('nfs');
      expect(request.url.searchParams.get('hostname')).to.equal('nfs-host-1');
    }
    expect(server.reports).to.have.length(1);
  });

  it('posts the NACK of a config it cannot apply with the error, again before the next poll until Fusion takes it', async () => {
    const invalid = { ...configDoc(home.path), pipes: { p1: { source: 'missing', sender: 'out' } } };
    server.desired = { revision: 1, signature: configSignature(invalid), document: invalid };
    server.statusAnswer = 503;
    agent = pollingAgent();
    await agent.start();
    await eventually(() => server.requests.length >= 3);
    expect(server.reports).to.have.length(0);
    server.statusAnswer = null;
    await eventually(() => server.reports.length === 1);
    expect(server.reports[0]).to.include({ agent_id: AGENT_ID, signature: server.desired.signature, status: 'failed' });
    expect(server.reports[0]!.error).to.include('unknown source "missing"');
    const polls = server.requests.length;
    await eventually(() => server.requests.length >= polls + 3);
    expect(server.reports).to.have.length(1);
  });

  it('reports itself disconnected while refused or unreachable and keeps polling', async () => {
    agent = pollingAgent('wrong-token');
    await agent.start();
    await eventually(() => server.requests.length >= 2);
    expect(server.statuses().every((s) => s === 401)).to.equal(true);
    expect(agent.snapshot().connected).to.equal(false);
  });
});
