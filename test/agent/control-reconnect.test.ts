import { expect } from 'chai';
import { Backoff } from '../../shared/backoff.js';
import { CloseCode } from '../../shared/protocol/index.js';
import type { Agent } from '../../agent/agent.js';
import { resolveBootstrapOptions } from '../../agent/bootstrap.js';
import { NO_CONFIG } from '../../agent/config/config-applier.js';
import { FrameDispatcher } from '../../agent/control/frame-dispatcher.js';
import type { ConnectionEnd } from '../../agent/control/types.js';
import { WsControlClient } from '../../agent/control/ws-control-client.js';
import { eventually } from '../harness/eventually.js';
import { tempHome } from '../harness/temp-home.js';
import { AGENT_ID, configDoc, fastAgent, silentLogger, signed } from './agent-fixture.js';
import { FusionPeer } from './fusion-peer.js';

/** A backoff policy that counts its calls. */
class CountingBackoff extends Backoff {
  nextCalls: number[] = [];
  resets = 0;
  override next(hintMs = 0): number {
    this.nextCalls.push(hintMs);
    return super.next(hintMs);
  }
  override reset(): void {
    this.resets += 1;
    super.reset();
  }
}

describe('agent control channel: reconnects and liveness', () => {
  let home: { path: string; remove(): Promise<void> };
  let peer: FusionPeer | undefined;
  let agent: Agent | undefined;
  let client: WsControlClient | undefined;

  beforeEach(async () => {
    home = await tempHome('agent-');
  });

  afterEach(async () => {
    await agent?.stop();
    await client?.stop();
    await peer?.stop();
    await home.remove();
    agent = undefined;
    client = undefined;
    peer = undefined;
  });

  it('reconnects after the server drops the connection and replays its signature', async () => {
    const target = signed(configDoc(home.path));
    peer = await FusionPeer.start({
      onHello: (hello, socket, p) => {
        p.welcome(socket);
        if (hello.config.signature !== target.signature) {
          p.send({ type: 'config', encoding: 'full', revision: 7, signature: target.signature, document: target.document });
        }
      },
    });
    agent = fastAgent(home.path, { controlPlaneUri: peer.url, authToken: 'peer-token' });
    const events: string[] = [];
    agent.on('connected', () => events.push('connected'));
    agent.on('disconnected', () => events.push('disconnected'));
    await agent.start();
    await eventually(() => peer!.framesOf('config_status').some((s) => s.status === 'applied'));
    peer.drop();
    await eventually(() => peer!.framesOf('hello').length === 2 && agent!.snapshot().connected);
    expect(peer.framesOf('hello')[1]!.config).to.deep.equal({ signature: target.signature, revision: 7, source: 'remote' });
    expect(events).to.deep.equal(['connected', 'disconnected', 'connected']);
    // Fusion had nothing new to send, so nothing was applied a second time.
    expect(peer.framesOf('config_status').filter((s) => s.status === 'applied')).to.have.length(1);
  });

  it('keeps trying while the server is down and connects once it is back', async () => {
    peer = await FusionPeer.start();
    const port = peer.port;
    agent = fastAgent(home.path, { controlPlaneUri: peer.url, authToken: 'peer-token' });
    await agent.start();
    await peer.stop();
    await eventually(() => !agent!.snapshot().connected);
    peer = await FusionPeer.start({ port });
    await eventually(() => agent!.snapshot().connected && peer!.framesOf('hello').length === 1, { timeoutMs: 5000 });
  });

  it('waits at least the retry-after of a reconnect hint', async () => {
    peer = await FusionPeer.start();
    agent = fastAgent(home.path, { controlPlaneUri: peer.url, authToken: 'peer-token' });
    await agent.start();
    peer.send({ type: 'reconnect', retry_after_ms: 400, reason: 'planned restart' });
    const closedAt = Date.now();
    peer.socket!.close(CloseCode.ServerShutdown, 'server shutdown');
    await eventually(() => peer!.upgrades.length === 2, { timeoutMs: 5000 });
    // Without the hint the fast backoff (cap 100 ms) would redial at once.
    expect(peer.upgrades[1]!.at - closedAt).to.be.at.least(400);
  });

  it('drops a server that stops pinging after 2.5 heartbeat intervals and reconnects', async () => {
    peer = await FusionPeer.start({ heartbeatIntervalMs: 100, ping: false });
    agent = fastAgent(home.path, { controlPlaneUri: peer.url, authToken: 'peer-token' });
    const ends: Array<ConnectionEnd | undefined> = [];
    agent.on('disconnected', (end) => ends.push(end));
    await agent.start();
    await eventually(() => ends.length >= 1 && peer!.upgrades.length >= 2, { timeoutMs: 5000 });
    expect(ends[0]).to.include({ reason: 'heartbeat timeout', opened: true });
    expect(ends[0]!.uptimeMs).to.be.at.least(250);
  });

  it('stays connected while the server pings', async () => {
    peer = await FusionPeer.start({ heartbeatIntervalMs: 60, ping: true });
    agent = fastAgent(home.path, { controlPlaneUri: peer.url, authToken: 'peer-token' });
    await agent.start(); // takes connect_timeout_ms (300), i.e. five heartbeat intervals
    await eventually(() => Date.now() - peer!.upgrades[0]!.at > 500, { timeoutMs: 2000 });
    expect(peer.upgrades).to.have.length(1);
    expect(agent.snapshot().connected).to.equal(true);
  });

  it('retries at its longest backoff after the upgrade is refused', async () => {
    peer = await FusionPeer.start({ token: 'the-right-token' });
    agent = fastAgent(home.path, {
      controlPlaneUri: peer.url,
      authToken: 'a-wrong-token',
      backoff: { baseMs: 10, capMs: 250, stableAfterMs: 60_000 },
    });
    await agent.start();
    await eventually(() => peer!.upgrades.length >= 3, { timeoutMs: 5000 });
    const [a, b, c] = peer.upgrades;
    expect(b!.at - a!.at).to.be.at.least(240);
    expect(c!.at - b!.at).to.be.at.least(240);
    expect(agent.snapshot().connected).to.equal(false);
  });

  it('resets its backoff after a connection stayed up stable_after_ms, not before', async () => {
    peer = await FusionPeer.start();
    const backoff = new CountingBackoff({ baseMs: 10, capMs: 50 });
    const bootstrap = resolveBootstrapOptions({
      home: home.path,
      agentId: AGENT_ID,
      controlPlaneUri: peer.url,
      authToken: 'peer-token',
      backoff: { baseMs: 10, capMs: 50, stableAfterMs: 200 },
    });
    const logger = silentLogger();
    client = new WsControlClient({ bootstrap, dispatcher: new FrameDispatcher(logger), running: () => NO_CONFIG, logger, backoff });
    client.start();
    await eventually(() => client!.connected);
    peer.drop(); // up for well under 200 ms
    await eventually(() => peer!.upgrades.length === 2 && client!.connected);
    expect(backoff.resets).to.equal(0);
    expect(backoff.nextCalls).to.have.length(1);
    const secondAt = peer.upgrades[1]!.at;
    await eventually(() => Date.now() - secondAt >= 250);
    peer.drop();
    await eventually(() => peer!.upgrades.length === 3 && client!.connected);
    expect(backoff.resets).to.equal(1);
    expect(backoff.nextCalls).to.have.length(2);
  });

  it('closes with 1000 on stop and does not reconnect', async () => {
    peer = await FusionPeer.start();
    agent = fastAgent(home.path, { controlPlaneUri: peer.url, authToken: 'peer-token' });
    await agent.start();
    await agent.stop();
    await eventually(() => peer!.closes.length === 1);
    expect(peer.closes).to.deep.equal([CloseCode.Normal]);
    expect(agent.snapshot().connected).to.equal(false);
    expect(peer.upgrades).to.have.length(1);
  });
});
