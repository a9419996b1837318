import { expect } from 'chai';
import { mkdir, writeFile } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import type { Agent, AgentOptions } from '../../agent/agent.js';
import { validateFusionConfig, writeFusionConfig } from '../../server/dataplane/index.js';
import type { PipeStatus } from '../../shared/protocol/index.js';
import { eventually } from '../harness/eventually.js';
import { startFusion, TEST_ADMIN_TOKEN, type TestFusion } from '../harness/fusion.js';
import { tempHome } from '../harness/temp-home.js';
import { fastAgent, memoryLogger } from './agent-fixture.js';
import { createTestPki, type TestPki } from './tls-certificates.js';

/** The key of Fusion's only receiver; its records land in view `v`. */
const RECEIVER_KEY = 'tls-receiver-key-0123456789';

/** What a test client presents to Fusion: the CA it trusts and, for mutual TLS, a client certificate. */
type ClientTls = Pick<https.RequestOptions, 'ca' | 'cert' | 'key'>;

/** One HTTPS exchange with Fusion (the global fetch cannot take a private CA). */
function call(url: string, tls: ClientTls, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: init.method ?? 'GET', headers: init.headers, agent: false, ...tls }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as unknown) : undefined });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

describe('agent sender over TLS: an https sender uri with the bootstrap\'s CA and client certificate', function () {
  this.timeout(30_000);
  let pki: TestPki;
  let adminTls: ClientTls;
  let dir: { path: string; remove(): Promise<void> };
  let data: string;
  let fusion: TestFusion | undefined;
  const agents: Agent[] = [];

  before(async () => {
    pki = await createTestPki();
    adminTls = pki.clientPem;
  });
  after(async () => {
    await pki.remove();
  });
  beforeEach(async () => {
    dir = await tempHome('agent-tls-sender-');
    data = path.join(dir.path, 'data');
    await mkdir(path.join(data, 'd'), { recursive: true });
    await writeFile(path.join(data, 'a.txt'), 'aaaa');
    await writeFile(path.join(data, 'd', 'b.txt'), 'bb');
  });
  afterEach(async () => {
    for (const agent of agents.splice(0)) await agent.stop();
    await fusion?.stop();
    fusion = undefined;
    await dir.remove();
  });

  /** Fusion on TLS (mutual TLS when `requireClientCert`) with one receiver feeding view `v`. */
  async function startTlsFusion(requireClientCert = false): Promise<TestFusion> {
    const home = path.join(dir.path, 'fusion');
    const check = validateFusionConfig({
      receivers: { r: { driver: 'http', api_keys: [{ key: RECEIVER_KEY, pipe_id: 'fp' }] } },
      views: { v: { driver: 'fs' } },
      pipes: { fp: { receiver: 'r', views: ['v'] } },
    });
    if (!check.ok) throw new Error(`fusion config is invalid: ${JSON.stringify(check.errors)}`);
    await writeFusionConfig(home, check.config);
    const tls = { cert: pki.pem.serverCert, key: pki.pem.serverKey, ...(requireClientCert && { ca: pki.pem.ca, requireClientCert }) };
    fusion = await startFusion({ home, tls });
    expect(fusion.url).to.match(/^https:/);
    return fusion;
  }

  /** One pipe from the data tree to Fusion's https URL; a failure shows as `error` at once. */
  function agentConfig(url: string): Record<string, unknown> {
    return {
      sources: { src: { driver: 'fs', uri: data } },
      senders: { out: { driver: 'fusion', uri: url, credential: { key: RECEIVER_KEY }, batch_size: 2 } },
      pipes: { p: { source: 'src', sender: 'out', audit_interval_sec: 0.2, max_consecutive_errors: 1 } },
    };
  }

  async function saveConfig(f: TestFusion, agentId: string, tls: ClientTls): Promise<void> {
    const res = await call(`${f.url}/api/v1/management/agents/${agentId}/config/structured`, tls, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(agentConfig(f.url)),
    });
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
  }

  async function viewStats(f: TestFusion, tls: ClientTls): Promise<{ files: number; dirs: number; total_bytes: number }> {
    const res = await call(`${f.url}/api/v1/views/v/stats`, tls, { headers: { 'x-api-key': RECEIVER_KEY } });
    expect(res.status).to.equal(200);
    return res.body as { files: number; dirs: number; total_bytes: number };
  }

  /** An agent with no control plane, running the pipe from its local config. */
  async function localAgent(name: string, url: string, options: Pick<AgentOptions, 'caFile' | 'certFile' | 'keyFile' | 'logger'>): Promise<Agent> {
    const home = path.join(dir.path, name);
    await mkdir(path.join(home, 'agent-config'), { recursive: true });
    await writeFile(path.join(home, 'agent-config', 'pipes.yaml'), JSON.stringify(agentConfig(url)));
    const agent = fastAgent(home, { agentId: name, ...options });
    agents.push(agent);
    await agent.start();
    return agent;
  }

  const pipeOf = (agent: Agent): PipeStatus | undefined => agent.snapshot().pipes.find((p) => p.id === 'p');

  it('pushes records to Fusion\'s https receiver, trusting the CA named in the bootstrap', async () => {
    const f = await startTlsFusion();
    await saveConfig(f, 'node-1', { ca: pki.pem.ca });
    const agent = fastAgent(path.join(dir.path, 'node-1'), { controlPlaneUri: f.url, authToken: f.enrollmentToken, caFile: pki.files.ca, connectTimeoutMs: 5_000 });
    agents.push(agent);
    await agent.start();
    expect(agent.snapshot().config.source).to.equal('remote');
    await eventually(async () => {
      expect(await viewStats(f, { ca: pki.pem.ca })).to.include({ files: 2, dirs: 1, total_bytes: 6 });
      return true;
    });
    await eventually(() => pipeOf(agent)?.state === 'running' && pipeOf(agent)!.records_sent! >= 4);
    expect(pipeOf(agent)!.last_error ?? null).to.equal(null);
  });

  it('without the CA the pipe status names the failed TLS handshake; the agent keeps running and retrying', async () => {
    const f = await startTlsFusion();
    const { logger, lines } = memoryLogger('warn');
    const agent = await localAgent('node-2', f.url, { logger });
    await eventually(() => pipeOf(agent)?.state === 'error' && /TLS handshake failed/.test(pipeOf(agent)!.last_error ?? ''));
    expect(pipeOf(agent)!.last_error).to.match(/^fusion unreachable \(POST \/api\/v1\/pipe\/sessions\): TLS handshake failed .*check the agent's ca, cert and key options$/);
    await eventually(() => lines.filter((l) => /TLS handshake failed/.test(String(l.msg))).length >= 2);
    expect(JSON.stringify(lines), 'the receiver key is never logged').to.not.include(RECEIVER_KEY);
    expect((await viewStats(f, { ca: pki.pem.ca })).files).to.equal(0);
  });

  it('presents the client certificate on the data plane when Fusion requires mutual TLS; without it the pipe says why', async () => {
    const f = await startTlsFusion(true);
    await saveConfig(f, 'node-1', adminTls);
    const agent = fastAgent(path.join(dir.path, 'node-1'), {
      controlPlaneUri: f.url,
      authToken: f.enrollmentToken,
      caFile: pki.files.ca,
      certFile: pki.files.clientCert,
      keyFile: pki.files.clientKey,
      connectTimeoutMs: 5_000,
    });
    agents.push(agent);
    await agent.start();
    expect(agent.snapshot().config.source).to.equal('remote');
    await eventually(async () => (await viewStats(f, adminTls)).files === 2);

    // The same pipe with the CA but no client certificate: Fusion's listener refuses the handshake.
    const anonymous = await localAgent('node-3', f.url, { caFile: pki.files.ca });
    await eventually(() => pipeOf(anonymous)?.state === 'error' && /TLS handshake failed/.test(pipeOf(anonymous)!.last_error ?? ''));
    expect(pipeOf(anonymous)!.last_error).to.match(/certificate required/i);
    expect(pipeOf(agent)!.state).to.equal('running');
  });
});
