import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { CONTROL_PULL_PATH, type WelcomeFrame } from '../../shared/protocol/index.js';
import type { Agent } from '../../agent/agent.js';
import { CredentialStore } from '../../agent/credentials/credential-store.js';
import { eventually } from '../harness/eventually.js';
import { tempHome } from '../harness/temp-home.js';
import { AGENT_ID, fastAgent, memoryLogger, silentLogger } from './agent-fixture.js';
import { FusionPeer } from './fusion-peer.js';

const CREDENTIAL = 'fagt_credential-that-must-stay-secret-0123456789';
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

describe('agent credential from enrollment', () => {
  let home: { path: string; remove(): Promise<void> };
  let peer: FusionPeer | undefined;
  let agent: Agent | undefined;
  const credentialFile = (): string => path.join(home.path, 'agent-state', 'credential.json');
  const exists = (file: string): Promise<boolean> =>
    stat(file).then(
      () => true,
      () => false,
    );
  /** Stores a credential as an earlier run of the agent would have. */
  const preEnroll = (bootstrapToken: string, credential: string): Promise<void> =>
    new CredentialStore({ home: home.path, agentId: AGENT_ID, bootstrapToken, logger: silentLogger() }).enrolled(credential).then(() => undefined);

  beforeEach(async () => {
    home = await tempHome('agent-enroll-');
  });
  afterEach(async () => {
    await agent?.stop();
    await peer?.stop();
    await home.remove();
    agent = undefined;
    peer = undefined;
  });

  it('stores the credential from welcome with mode 0600 and presents it on the next connection, never logging it', async () => {
    peer = await FusionPeer.start({ token: 'enroll-token', credential: CREDENTIAL });
    const { logger, lines } = memoryLogger('trace');
    agent = fastAgent(home.path, { controlPlaneUri: peer.url, authToken: 'enroll-token', logger });
    const welcomes: WelcomeFrame[] = [];
    agent.on('welcome', (frame) => welcomes.push(frame));
    await agent.start();
    await eventually(() => exists(credentialFile()));
    expect((await stat(credentialFile())).mode & 0o777).to.equal(0o600);
    expect(JSON.parse(await readFile(credentialFile(), 'utf8'))).to.include({
      agent_id: AGENT_ID,
      credential: CREDENTIAL,
      enrollment_token_sha256: sha256('enroll-token'),
    });
    peer.drop();
    await eventually(() => welcomes.length === 2);
    expect(peer.upgrades.map((u) => u.authorization)).to.deep.equal(['Bearer enroll-token', `Bearer ${CREDENTIAL}`]);
    expect(welcomes[0]).not.to.have.property('credential');
    expect(JSON.stringify(lines)).not.to.include(CREDENTIAL);
  });

  it('stays enrolled when its enrollment token is revoked', async () => {
    peer = await FusionPeer.start({ token: 'enroll-token', credential: CREDENTIAL });
    agent = fastAgent(home.path, { controlPlaneUri: peer.url, authToken: 'enroll-token' });
    await agent.start();
    await eventually(() => exists(credentialFile()));
    peer.options.token = 'another-enrollment-token'; // the agent's enrollment token is no longer accepted
    peer.drop();
    await eventually(() => peer!.framesOf('hello').length === 2 && agent!.snapshot().connected);
    expect(peer.upgrades.at(-1)!.authorization).to.equal(`Bearer ${CREDENTIAL}`);
  });

  it('keeps presenting its credential when the bootstrap token changes (an enrolled id is not enrolled again)', async () => {
    await preEnroll('old-enroll-token', CREDENTIAL);
    peer = await FusionPeer.start({ token: 'new-enroll-token', credential: CREDENTIAL });
    agent = fastAgent(home.path, { controlPlaneUri: peer.url, authToken: 'new-enroll-token' });
    await agent.start();
    expect(peer.upgrades[0]!.authorization).to.equal(`Bearer ${CREDENTIAL}`);
    expect(JSON.parse(await readFile(credentialFile(), 'utf8'))).to.include({ credential: CREDENTIAL, enrollment_token_sha256: sha256('old-enroll-token') });
  });

  it('after a revoked close deletes the credential, says a new enrollment token is needed and never re-enrolls with the old one', async () => {
    peer = await FusionPeer.start({ token: 'enroll-token', credential: CREDENTIAL });
    const { logger, lines } = memoryLogger('info');
    agent = fastAgent(home.path, { controlPlaneUri: peer.url, authToken: 'enroll-token', logger });
    await agent.start();
    await eventually(() => exists(credentialFile()));
    peer.revokeCredential();
    await eventually(async () => !(await exists(credentialFile())));
    const errors = (): string[] => lines.filter((l) => l.level === 50).map((l) => String(l.msg));
    expect(await eventually(() => errors().find((m) => /revoked this agent; a new enrollment token is needed/.test(m)))).to.be.a('string');
    // Waiting at the longest backoff (100 ms) without dialling: two reminders, still one upgrade.
    await eventually(() => errors().filter((m) => /waiting for a new enrollment token/.test(m)).length >= 2);
    expect(peer.upgrades).to.have.length(1);
    expect(agent.snapshot().connected).to.equal(false);
    await agent.stop();

    // A restart with the same token stays out; one with a new enrollment token comes back.
    agent = fastAgent(home.path, { controlPlaneUri: peer.url, authToken: 'enroll-token', connectTimeoutMs: 50 });
    await agent.start();
    await agent.stop();
    expect(peer.upgrades).to.have.length(1);
    peer.options.token = 'new-enroll-token';
    agent = fastAgent(home.path, { controlPlaneUri: peer.url, authToken: 'new-enroll-token' });
    await agent.start();
    expect(agent.snapshot().connected).to.equal(true);
    expect(peer.upgrades.at(-1)!.authorization).to.equal('Bearer new-enroll-token');
  });

  it('treats a 401 to its stored credential as a revocation', async () => {
    await preEnroll('enroll-token', 'a-credential-fusion-forgot');
    peer = await FusionPeer.start({ token: 'enroll-token' });
    const { logger, lines } = memoryLogger('info');
    agent = fastAgent(home.path, { controlPlaneUri: peer.url, authToken: 'enroll-token', logger });
    await agent.start();
    await eventually(() => lines.some((l) => /waiting for a new enrollment token/.test(String(l.msg))));
    expect(await exists(credentialFile())).to.equal(false);
    expect(peer.upgrades.map((u) => u.authorization)).to.deep.equal(['Bearer a-credential-fusion-forgot']);
  });

  it('waits out the Retry-After of an upgrade refused for too many failed authentications', async () => {
    const attempts: number[] = [];
    const server = http.createServer((_req, res) => res.writeHead(404).end());
    server.on('upgrade', (_req, socket) => {
      attempts.push(Date.now());
      socket.end('HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      agent = fastAgent(home.path, { controlPlaneUri: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, authToken: 'enroll-token' });
      await agent.start();
      await eventually(() => attempts.length >= 2, { timeoutMs: 5_000 });
      // Without the hint the fast backoff (cap 100 ms) would redial at once.
      expect(attempts[1]! - attempts[0]!).to.be.at.least(1_000);
      expect(await exists(path.join(home.path, 'agent-state', 'revoked-enrollment.json'))).to.equal(false);
    } finally {
      await agent?.stop();
      agent = undefined;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('polls with the stored credential, and a 401 to it revokes it', async () => {
    await preEnroll('enroll-token', CREDENTIAL);
    const seen: Array<string | undefined> = [];
    let accept = true;
    const server = http.createServer((req, res) => {
      seen.push(req.headers.authorization);
      if (!req.url?.startsWith(CONTROL_PULL_PATH)) res.writeHead(404).end();
      else if (accept && req.headers.authorization === `Bearer ${CREDENTIAL}`) res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"not_found","message":"no config"}}');
      else res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"code":"unauthorized","message":"revoked"}}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { logger, lines } = memoryLogger('info');
    try {
      agent = fastAgent(home.path, {
        controlPlaneUri: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        authToken: 'enroll-token',
        transport: 'poll',
        pollIntervalSec: 0.02,
        logger,
      });
      await agent.start();
      expect(seen[0]).to.equal(`Bearer ${CREDENTIAL}`);
      accept = false;
      await eventually(async () => !(await exists(credentialFile())));
      // Polls go on, but none with the enrollment token the agent was revoked under.
      await eventually(() => lines.filter((l) => /needs a new enrollment token/.test(String(l.msg))).length >= 2);
      expect(seen).not.to.include('Bearer enroll-token');
      expect(await agent.credentials!.current()).to.equal(null);
    } finally {
      await agent?.stop();
      agent = undefined;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
