/**
 * The order an agent tries its control plane URLs in, rounds and hold-offs;
 * then the WebSocket client over two real sockets: a dropped connection moves
 * to the other URL, the backoff grows only after a whole round, and a
 * replica's reconnect hint sends the agent to the other one at once.
 */
import { expect } from 'chai';
import { Backoff } from '../../shared/backoff.js';
import { CloseCode } from '../../shared/protocol/index.js';
import { resolveBootstrapOptions } from '../../agent/bootstrap.js';
import { NO_CONFIG } from '../../agent/config/config-applier.js';
import { ControlPlaneTargets } from '../../agent/control/control-plane-targets.js';
import { FrameDispatcher } from '../../agent/control/frame-dispatcher.js';
import { WsControlClient } from '../../agent/control/ws-control-client.js';
import { eventually } from '../harness/eventually.js';
import { tempHome } from '../harness/temp-home.js';
import { AGENT_ID, AS_WRITTEN, seeded, silentLogger } from './agent-fixture.js';
import { FusionPeer } from './fusion-peer.js';

class CountingBackoff extends Backoff {
  nextCalls: number[] = [];
  override next(hintMs = 0): number {
    this.nextCalls.push(hintMs);
    return super.next(hintMs);
  }
}

describe('control plane targets', () => {
  const URIS = ['http://a', 'http://b', 'http://c'];

  it('shuffles once per start, spreading a fleet over every URL', () => {
    const random = seeded(42);
    const firsts = new Map<string, number>();
    const orders = new Set<string>();
    for (let i = 0; i < 600; i += 1) {
      const targets = new ControlPlaneTargets({ uris: URIS, stepMs: 10, random });
      expect([...targets.order].sort()).to.deep.equal(URIS);
      expect(targets.current).to.equal(targets.order[0]);
      firsts.set(targets.current, (firsts.get(targets.current) ?? 0) + 1);
      orders.add(targets.order.join(' '));
    }
    expect(orders.size, 'all 6 orders of 3 URLs occur').to.equal(6);
    for (const uri of URIS) expect(firsts.get(uri), uri).to.be.within(150, 250);
  });

  it('completes a round only once every URL failed since the last success', () => {
    const targets = new ControlPlaneTargets({ uris: URIS, stepMs: 10, random: AS_WRITTEN });
    expect(targets.order).to.deep.equal(URIS);
    expect([targets.failed(), targets.current]).to.deep.equal([false, 'http://b']);
    expect([targets.failed(), targets.current]).to.deep.equal([false, 'http://c']);
    expect([targets.failed(), targets.current]).to.deep.equal([true, 'http://a']);
    targets.failed();
    targets.succeeded();
    expect([targets.failed(), targets.failed(), targets.failed()]).to.deep.equal([false, false, true]);
    const single = new ControlPlaneTargets({ uris: ['http://only'], stepMs: 10 });
    expect([single.failed(), single.failed(), single.current]).to.deep.equal([true, true, 'http://only']);
  });

  it('skips a held-off URL while another is free, and waits for the soonest when none is', () => {
    let now = 1_000;
    const targets = new ControlPlaneTargets({ uris: URIS, stepMs: 10, random: AS_WRITTEN, now: () => now });
    targets.holdOff('http://b', 5_000);
    targets.failed();
    expect(targets.current, 'b is held: c comes next').to.equal('http://c');
    targets.holdOff('http://c', 3_000);
    targets.holdOff('http://a', 9_000);
    targets.failed();
    expect(targets.current, 'every URL held: c is free soonest').to.equal('http://c');
    expect(targets.heldMs()).to.equal(3_000);
    expect(targets.stepDelayMs()).to.be.within(3_000, 3_010);
    now += 3_000;
    expect(targets.heldMs()).to.equal(0);
    expect(targets.stepDelayMs()).to.be.within(0, 9);
  });
});

describe('WebSocket client with two control plane URLs', () => {
  let home: { path: string; remove(): Promise<void> };
  const peers: FusionPeer[] = [];
  let client: WsControlClient | undefined;

  beforeEach(async () => {
    home = await tempHome('agent-targets-');
  });

  afterEach(async () => {
    await client?.stop();
    client = undefined;
    await Promise.all(peers.splice(0).map((p) => p.stop()));
    await home.remove();
  });

  async function twoPeers(): Promise<[FusionPeer, FusionPeer]> {
    peers.push(await FusionPeer.start(), await FusionPeer.start());
    return [peers[0]!, peers[1]!];
  }

  function connect(uris: string[], backoff: Backoff): WsControlClient {
    const bootstrap = resolveBootstrapOptions({
      home: home.path,
      agentId: AGENT_ID,
      controlPlaneUri: uris,
      authToken: 'peer-token',
      backoff: { baseMs: 10, capMs: 50, stableAfterMs: 60_000 },
    });
    const logger = silentLogger();
    const targets = new ControlPlaneTargets({ uris, stepMs: 10, random: AS_WRITTEN });
    client = new WsControlClient({ bootstrap, dispatcher: new FrameDispatcher(logger), running: () => NO_CONFIG, logger, backoff, targets });
    client.start();
    return client;
  }

  it('tries the other URL first when a connection drops, and grows its backoff once per full round', async () => {
    const [a, b] = await twoPeers();
    const backoff = new CountingBackoff({ baseMs: 10, capMs: 50 });
    const ws = connect([a.url, b.url], backoff);
    await eventually(() => ws.connected && a.upgrades.length === 1);
    a.drop();
    await eventually(() => ws.connected && b.upgrades.length === 1, { message: 'moved to b' });
    expect(a.upgrades).to.have.length(1);
    expect(backoff.nextCalls, 'one URL of the round failed: no backoff step yet').to.have.length(0);
    b.drop();
    await eventually(() => ws.connected && a.upgrades.length === 2, { message: 'back to a' });
    expect(b.upgrades).to.have.length(1);
    expect(backoff.nextCalls, 'both failed: one backoff step').to.have.length(1);
  });

  it('honours a reconnect hint by holding that URL off and dialling the other one at once', async () => {
    const [a, b] = await twoPeers();
    const backoff = new CountingBackoff({ baseMs: 10, capMs: 50 });
    const ws = connect([a.url, b.url], backoff);
    await eventually(() => ws.connected && a.upgrades.length === 1);
    a.send({ type: 'reconnect', retry_after_ms: 60_000, reason: 'Fusion is restarting' });
    a.socket!.close(CloseCode.ServerShutdown, 'server shutdown');
    await eventually(() => ws.connected && b.upgrades.length === 1, { timeoutMs: 5_000, message: 'moved to b without waiting for the hint' });
    // b goes away too: a is still held for its hint, so b is dialled again after the full-round backoff.
    b.drop();
    await eventually(() => ws.connected && b.upgrades.length === 2, { timeoutMs: 5_000, message: 'back on b' });
    expect(a.upgrades, 'a is not dialled during its hint').to.have.length(1);
  });
});
