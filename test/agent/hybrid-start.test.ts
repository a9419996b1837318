import { expect } from 'chai';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import type { Agent } from '../../agent/agent.js';
import type { ConfigAppliedEvent } from '../../agent/config/config-applier.js';
import { LocalConfigError } from '../../agent/config/fallback-config.js';
import { localConfigDir } from '../../agent/config/local-config.js';
import { eventually } from '../harness/eventually.js';
import { tempHome } from '../harness/temp-home.js';
import { configDoc, fastAgent, signed } from './agent-fixture.js';
import { FusionPeer } from './fusion-peer.js';

describe('agent start-up: remote, then cached, then local config', () => {
  let home: { path: string; remove(): Promise<void> };
  let peer: FusionPeer | undefined;
  let agents: Agent[] = [];

  beforeEach(async () => {
    home = await tempHome('agent-hybrid-');
  });

  afterEach(async () => {
    for (const agent of agents) await agent.stop();
    await peer?.stop();
    await home.remove();
    agents = [];
    peer = undefined;
  });

  function track(agent: Agent): Agent {
    agents.push(agent);
    return agent;
  }

  /** A peer that pushes `desired` full to every agent whose hello runs something else. */
  function pushing(desired: { revision: number; signature: string; document: Record<string, unknown> } | null, port?: number): Promise<FusionPeer> {
    return FusionPeer.start({
      ...(port !== undefined && { port }),
      onHello: (hello, socket, p) => {
        p.welcome(socket);
        if (desired && hello.config.signature !== desired.signature) p.send({ type: 'config', encoding: 'full', ...desired });
      },
    });
  }

  async function writeLocal(document: Record<string, unknown>): Promise<void> {
    await mkdir(localConfigDir(home.path), { recursive: true });
    await writeFile(path.join(localConfigDir(home.path), 'agent.yaml'), YAML.stringify(document));
  }

  it('runs the cached remote config when Fusion is unreachable, then converges once it is back', async () => {
    const first = { revision: 4, ...signed(configDoc(home.path, { sources: ['a'] })) };
    peer = await pushing(first);
    const port = peer.port;
    const url = peer.url;
    const online = track(fastAgent(home.path, { controlPlaneUri: url, authToken: 'peer-token' }));
    await online.start();
    expect(online.snapshot().config).to.include({ source: 'remote', revision: 4 });
    await online.stop();
    await peer.stop();
    peer = undefined;
    await writeLocal(configDoc(home.path, { sources: ['local-only'] }));

    const offline = track(fastAgent(home.path, { controlPlaneUri: url, authToken: 'peer-token' }));
    const startedAt = Date.now();
    await offline.start();
    expect(Date.now() - startedAt).to.be.at.least(280); // it gave the control plane connect_timeout_ms
    expect(offline.snapshot().config).to.deep.include({ source: 'cache', revision: 4, signature: first.signature });

    const second = { revision: 5, ...signed(configDoc(home.path, { sources: ['a', 'b'] })) };
    peer = await pushing(second, port);
    await eventually(() => offline.snapshot().config.signature === second.signature, { timeoutMs: 5000 });
    expect(peer.framesOf('hello')[0]!.config).to.deep.equal({ signature: first.signature, revision: 4, source: 'cache' });
    expect(offline.snapshot().config).to.include({ source: 'remote', revision: 5 });
  });

  it('runs the local config when Fusion is unreachable and nothing is cached', async () => {
    peer = await FusionPeer.start();
    const url = peer.url;
    await peer.stop();
    peer = undefined;
    const local = signed(configDoc(home.path, { pipes: { p1: 'src' } }));
    await writeLocal(local.document);
    const agent = track(fastAgent(home.path, { controlPlaneUri: url, authToken: 'peer-token' }));
    await agent.start();
    expect(agent.snapshot().config).to.deep.include({ source: 'local', revision: null, signature: local.signature });
    expect(agent.snapshot().pipes.map((p) => p.id)).to.deep.equal(['p1']);
  });

  it('falls back to local config when Fusion is reachable but holds no config for the agent', async () => {
    peer = await pushing(null);
    const local = signed(configDoc(home.path));
    await writeLocal(local.document);
    const agent = track(fastAgent(home.path, { controlPlaneUri: peer.url, authToken: 'peer-token' }));
    await agent.start();
    expect(agent.snapshot()).to.deep.include({ connected: true });
    expect(agent.snapshot().config).to.include({ source: 'local', signature: local.signature });
    expect(peer.framesOf('hello')[0]!.config.signature).to.equal(null);
  });

  it('prefers the remote config and never applies the local one once it arrived', async () => {
    const remote = { revision: 1, ...signed(configDoc(home.path, { sources: ['remote'] })) };
    peer = await pushing(remote);
    await writeLocal(configDoc(home.path, { sources: ['local'] }));
    const agent = track(fastAgent(home.path, { controlPlaneUri: peer.url, authToken: 'peer-token' }));
    const applied: ConfigAppliedEvent[] = [];
    agent.on('config_applied', (event) => applied.push(event));
    await agent.start();
    await new Promise((resolve) => setTimeout(resolve, 400)); // past connect_timeout_ms: no late fallback may follow
    expect(applied.map((e) => e.running.source)).to.deep.equal(['remote']);
    expect(agent.snapshot().config.signature).to.equal(remote.signature);
  });

  it('without a control plane runs local config only, and refuses to start on an invalid one', async () => {
    await writeLocal({ ...configDoc(home.path), pipes: { p1: { source: 'nope', sender: 'out' } } });
    const invalid = track(fastAgent(home.path));
    let failure: unknown;
    await invalid.start().catch((err: unknown) => (failure = err));
    expect(failure).to.be.instanceOf(LocalConfigError);
    expect((failure as LocalConfigError).errors[0]).to.include('pipes.p1.source: unknown source "nope"');

    const local = signed(configDoc(home.path));
    await writeLocal(local.document);
    const agent = track(fastAgent(home.path));
    await agent.start();
    expect(agent.snapshot()).to.deep.include({ connected: false, sessionId: null });
    expect(agent.snapshot().config).to.include({ source: 'local', signature: local.signature });
  });

  it('with a control plane starts with no pipes when local config is invalid, and takes the remote config later', async () => {
    peer = await FusionPeer.start();
    const port = peer.port;
    const url = peer.url;
    await peer.stop();
    peer = undefined;
    await writeLocal({ pipes: { p1: { source: 'nope', sender: 'nope' } } });
    const agent = track(fastAgent(home.path, { controlPlaneUri: url, authToken: 'peer-token' }));
    const failures: string[] = [];
    agent.on('config_failed', (event) => failures.push(event.error));
    await agent.start();
    expect(agent.snapshot().config.source).to.equal('none');
    expect(failures).to.have.length(1);
    const remote = { revision: 1, ...signed(configDoc(home.path)) };
    peer = await pushing(remote, port);
    await eventually(() => agent.snapshot().config.source === 'remote', { timeoutMs: 5000 });
  });
});
