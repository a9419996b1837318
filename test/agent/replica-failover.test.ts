/**
 * An agent given several control plane URLs finds a live one and moves to
 * another when the one it uses goes away, on the WebSocket and the poll
 * transport. Real Fusions on port 0 stand in for replicas. They are separate
 * SQLite Fusions, so they share no state: a credential one issued is unknown
 * to the other, and the agent, refused with `credential_unknown`, enrols on
 * the new one with its enrollment token (the same on both). Each Fusion holds
 * a different desired config for the agent, so the config the agent runs says
 * which Fusion it took it from.
 */
import { expect } from 'chai';
import { mkdir } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { eventually } from '../harness/eventually.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { startAgent, type TestAgent } from '../harness/start-agent.js';
import { tempHome } from '../harness/temp-home.js';
import { AS_WRITTEN, configDoc, seeded, signed } from './agent-fixture.js';

/** A URL nothing listens on: a port bound and released. */
async function deadUrl(): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

async function saveConfig(fusion: TestFusion, agentId: string, document: Record<string, unknown>): Promise<void> {
  const res = await fusion.json('POST', `/api/v1/management/agents/${agentId}/config/structured`, document);
  expect(res.status, JSON.stringify(res.body)).to.be.oneOf([200, 201]);
}

describe('agent with several control plane URLs', function () {
  this.timeout(60_000);
  const fusions: TestFusion[] = [];
  const agents: TestAgent[] = [];
  let home: { path: string; remove(): Promise<void> };

  beforeEach(async () => {
    home = await tempHome('replicas-');
  });

  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.stop()));
    await Promise.all(fusions.splice(0).map((f) => f.stop().catch(() => undefined)));
    await home.remove();
  });

  async function fusion(options: Parameters<typeof startFusion>[0] = {}): Promise<TestFusion> {
    const started = await startFusion(options);
    fusions.push(started);
    return started;
  }

  async function agent(target: TestFusion, options: Parameters<typeof startAgent>[1]): Promise<TestAgent> {
    const started = await startAgent(target, options);
    agents.push(started);
    return started;
  }

  it('skips a dead URL listed first and connects to the live one, whatever the shuffle', async () => {
    const live = await fusion();
    const dead = await deadUrl();
    // Forced order first, then seeded shuffles: the dead URL comes first in some of them by construction, not by luck.
    const randoms = [AS_WRITTEN, ...[1, 2, 3, 4, 5, 6, 7, 8].map(seeded)];
    const started = await Promise.all(
      randoms.map((uriOrderRandom, i) => agent(live, { agentId: `multi-${i}`, controlPlaneUri: [dead, live.url], uriOrderRandom })),
    );
    const deadFirst = started.filter((s) => s.agent.controlPlaneTargets!.order[0] === dead);
    expect(started[0]!.agent.controlPlaneTargets!.order).to.deep.equal([dead, live.url]);
    expect(deadFirst.length, 'agents whose first URL was the dead one').to.be.at.least(2);
    expect(deadFirst.length).to.be.below(started.length);
    await eventually(() => started.every((s) => s.agent.snapshot().connected && s.agent.controlPlaneUri === live.url), {
      message: 'every agent is connected to the live Fusion',
    });
    for (const s of started) expect(s.agent.snapshot().controlPlaneUri).to.equal(live.url);
  });

  it('polls the live URL when the first one is dead', async () => {
    const live = await fusion();
    const dead = await deadUrl();
    const data = path.join(home.path, 'data');
    await mkdir(data);
    const desired = signed(configDoc(data, { sources: ['live'] }));
    await saveConfig(live, 'poller', desired.document);
    const { agent: polling } = await agent(live, {
      agentId: 'poller',
      controlPlaneUri: [dead, live.url],
      uriOrderRandom: AS_WRITTEN,
      transport: 'poll',
      // A poll interval far longer than the test: only the step to the next URL can bring the config in time.
      pollIntervalSec: 3600,
      start: false,
    });
    expect(polling.controlPlaneTargets!.order[0]).to.equal(dead);
    await polling.start();
    await eventually(() => polling.snapshot().config.signature === desired.signature, { message: 'the poller runs the config of the live Fusion' });
    expect(polling.controlPlaneUri).to.equal(live.url);
  });

  for (const transport of ['websocket', 'poll'] as const) {
    it(`moves to the other Fusion when the one it uses shuts down (${transport})`, async () => {
      // A long reconnect hint: waiting for the same Fusion would take far longer than the test allows.
      const first = await fusion({ shutdownRetryAfterMs: 120_000 });
      const second = await fusion();
      const data = path.join(home.path, 'data');
      await mkdir(data);
      const fromFirst = signed(configDoc(data, { sources: ['first'] }));
      const fromSecond = signed(configDoc(data, { sources: ['second'] }));
      await saveConfig(first, 'node-1', fromFirst.document);
      await saveConfig(second, 'node-1', fromSecond.document);
      const { agent: running } = await agent(first, {
        agentId: 'node-1',
        controlPlaneUri: `${first.url},${second.url}`.split(','),
        uriOrderRandom: AS_WRITTEN,
        transport,
        pollIntervalSec: 0.1,
      });
      const urls = [first.url, second.url];
      expect(running.controlPlaneTargets!.order).to.deep.equal(urls);
      expect(running.snapshot().config.signature, 'runs the first Fusion\'s config').to.equal(fromFirst.signature);
      expect(running.controlPlaneUri).to.equal(first.url);

      await first.stop();
      await eventually(() => running.snapshot().config.signature === fromSecond.signature, {
        timeoutMs: 15_000,
        message: 'the agent runs the second Fusion\'s config',
      });
      expect(running.controlPlaneUri).to.equal(second.url);
      await eventually(() => running.snapshot().connected, { message: 'connected to the second Fusion' });
      if (transport === 'websocket') {
        // An operator asks the agent where it is connected: the diagnostics bundle names the URL in use.
        const sent = await second.json('POST', '/api/v1/management/agents/node-1/command', { type: 'diagnostics', args: { log_lines: 10 } });
        expect(sent.status, JSON.stringify(sent.body)).to.equal(202);
        const done = await eventually(async () => {
          const { body } = await second.json('GET', `/api/v1/management/commands/${sent.body.id}`);
          return body.status === 'succeeded' && body;
        });
        const bundle = (await (await second.api(done.output.download)).json()) as { control_plane: unknown };
        expect(bundle.control_plane).to.deep.equal({ uri: second.url, order: urls });
      }
    });
  }
});
