import { expect } from 'chai';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Agent } from '../../agent/agent.js';
import { eventually } from '../harness/eventually.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { tempHome } from '../harness/temp-home.js';
import { fastAgent, memoryLogger } from './agent-fixture.js';
import { FusionPeer } from './fusion-peer.js';
import { createTestPki, type TestPki } from './tls-certificates.js';

describe('agent control channel over TLS', () => {
  let pki: TestPki;
  let home: { path: string; remove(): Promise<void> };
  let fusion: TestFusion | undefined;
  let peer: FusionPeer | undefined;
  const agents: Agent[] = [];
  const track = (agent: Agent): Agent => {
    agents.push(agent);
    return agent;
  };
  const tlsWarnings = (lines: Array<Record<string, unknown>>): number => lines.filter((l) => /TLS handshake with Fusion failed/.test(String(l.msg))).length;

  before(async () => {
    pki = await createTestPki();
  });
  after(async () => {
    await pki.remove();
  });
  beforeEach(async () => {
    home = await tempHome('agent-tls-');
  });
  afterEach(async () => {
    for (const agent of agents.splice(0)) await agent.stop();
    await fusion?.stop();
    await peer?.stop();
    fusion = undefined;
    peer = undefined;
    await home.remove();
  });

  it('connects to Fusion over wss with its CA, enrolls, and polls over https', async () => {
    fusion = await startFusion({ tls: { cert: pki.pem.serverCert, key: pki.pem.serverKey } });
    expect(fusion.url).to.match(/^https:/);
    const agent = track(fastAgent(home.path, { controlPlaneUri: fusion.url, authToken: fusion.enrollmentToken, caFile: pki.files.ca }));
    await agent.start();
    await eventually(() => agent.snapshot().connected && agent.snapshot().sessionId);
    await eventually(() => stat(path.join(home.path, 'agent-state', 'credential.json')));

    const pollHome = path.join(home.path, 'poller');
    const poller = track(
      fastAgent(pollHome, { agentId: 'node-2', controlPlaneUri: fusion.url, authToken: fusion.enrollmentToken, caFile: pki.files.ca, transport: 'poll', pollIntervalSec: 0.1 }),
    );
    await poller.start();
    // It enrols over https first, then pulls.
    await eventually(() => poller.snapshot().connected, { message: 'the pull endpoint answered over https' });
    expect((await stat(path.join(pollHome, 'agent-state', 'credential.json'))).isFile()).to.equal(true);
  });

  it('presents its client certificate when Fusion requires one; without one it cannot connect and keeps retrying', async () => {
    fusion = await startFusion({ tls: { cert: pki.pem.serverCert, key: pki.pem.serverKey, ca: pki.pem.ca, requireClientCert: true } });
    const withCert = track(
      fastAgent(home.path, {
        controlPlaneUri: fusion.url,
        authToken: fusion.enrollmentToken,
        caFile: pki.files.ca,
        certFile: pki.files.clientCert,
        keyFile: pki.files.clientKey,
      }),
    );
    await withCert.start();
    await eventually(() => withCert.snapshot().connected && withCert.snapshot().sessionId);

    const { logger, lines } = memoryLogger('debug');
    const withoutCert = track(
      fastAgent(path.join(home.path, 'other'), { agentId: 'node-2', controlPlaneUri: fusion.url, authToken: fusion.enrollmentToken, caFile: pki.files.ca, logger }),
    );
    await withoutCert.start();
    await eventually(() => tlsWarnings(lines) >= 2);
    expect(withoutCert.snapshot().connected).to.equal(false);
    expect(String(lines.find((l) => l.tlsError !== undefined)!.tlsError)).to.match(/certificate required/);
  });

  it('shows the peer the certificate it was given', async () => {
    peer = await FusionPeer.start({
      tls: { cert: pki.pem.serverCert, key: pki.pem.serverKey, ca: pki.pem.ca, requestCert: true, rejectUnauthorized: true },
    });
    expect(peer.url).to.match(/^https:/);
    const agent = track(
      fastAgent(home.path, { controlPlaneUri: peer.url, authToken: 'peer-token', caFile: pki.files.ca, certFile: pki.files.clientCert, keyFile: pki.files.clientKey }),
    );
    await agent.start();
    await eventually(() => peer!.framesOf('hello').length === 1);
    expect(peer.upgrades[0]!.clientCertificate).to.equal('node-1');
  });

  it('refuses a Fusion its CA does not vouch for, says so, and keeps retrying', async () => {
    peer = await FusionPeer.start({ tls: { cert: pki.pem.serverCert, key: pki.pem.serverKey } });
    const { logger, lines } = memoryLogger('info');
    const agent = track(fastAgent(home.path, { controlPlaneUri: peer.url, authToken: 'peer-token', caFile: pki.files.otherCa, logger }));
    await agent.start();
    await eventually(() => tlsWarnings(lines) >= 2 && peer!.connections >= 2);
    expect(peer.upgrades, 'no HTTP request got past the handshake').to.have.length(0);
    expect(agent.snapshot().connected).to.equal(false);
    const warning = lines.find((l) => /TLS handshake/.test(String(l.msg)))!;
    expect(String(warning.tlsError)).to.match(/certificate/i);
  });
});
