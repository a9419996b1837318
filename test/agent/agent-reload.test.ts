import { expect } from 'chai';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import type { Agent } from '../../agent/agent.js';
import { ConfigCache } from '../../agent/config/config-cache.js';
import { LocalConfigError } from '../../agent/config/fallback-config.js';
import { localConfigDir } from '../../agent/config/local-config.js';
import { tempHome } from '../harness/temp-home.js';
import { configDoc, fastAgent, signed, silentLogger } from './agent-fixture.js';
import { FusionPeer } from './fusion-peer.js';

describe('agent reload and snapshot', () => {
  let home: { path: string; remove(): Promise<void> };
  let agent: Agent | undefined;
  let peer: FusionPeer | undefined;

  beforeEach(async () => {
    home = await tempHome('agent-reload-');
  });
  afterEach(async () => {
    await agent?.stop();
    await peer?.stop();
    await home.remove();
    agent = undefined;
    peer = undefined;
  });

  async function writeLocal(document: Record<string, unknown>): Promise<void> {
    await mkdir(localConfigDir(home.path), { recursive: true });
    await writeFile(path.join(localConfigDir(home.path), 'agent.yaml'), YAML.stringify(document));
  }

  it('re-reads the local files and applies them by pipe diff', async () => {
    await writeLocal(configDoc(home.path, { sources: ['a', 'b'], pipes: { p1: 'a', p2: 'b' } }));
    agent = fastAgent(home.path);
    await agent.start();
    expect(agent.snapshot().pipes.map((p) => p.id).sort()).to.deep.equal(['p1', 'p2']);
    const next = signed(configDoc(home.path, { sources: ['a', 'c'], pipes: { p1: 'a', p3: 'c' } }));
    await writeLocal(next.document);
    const change = await agent.reload();
    expect(change).to.deep.equal({ added: ['p3'], removed: ['p2'], restarted: [] });
    expect(agent.snapshot().config).to.deep.include({ source: 'local', signature: next.signature });
  });

  it('keeps the running config when the reloaded files are invalid', async () => {
    const good = signed(configDoc(home.path, { pipes: { p1: 'src' } }));
    await writeLocal(good.document);
    agent = fastAgent(home.path);
    await agent.start();
    const failures: string[] = [];
    agent.on('config_failed', (event) => failures.push(event.error));
    await writeLocal({ pipes: { p1: { source: 'src', sender: 'nowhere' } } });
    let error: unknown;
    await agent.reload().catch((err: unknown) => (error = err));
    expect(error).to.be.instanceOf(LocalConfigError);
    expect(failures[0]).to.include('unknown sender "nowhere"');
    expect(agent.snapshot().config.signature).to.equal(good.signature);
    expect(agent.snapshot().pipes.map((p) => p.id)).to.deep.equal(['p1']);
  });

  it('prefers the cache over local files, and stops everything when no config is left', async () => {
    const cached = signed(configDoc(home.path, { pipes: { p1: 'src' } }));
    await new ConfigCache(home.path, silentLogger()).save({ revision: 9, signature: cached.signature, document: cached.document });
    await writeLocal(configDoc(home.path, { sources: ['other'] }));
    agent = fastAgent(home.path);
    await agent.start();
    expect(agent.snapshot().config).to.include({ source: 'cache', revision: 9 });
    expect(await agent.reload()).to.deep.equal({ added: [], removed: [], restarted: [] });
    expect(agent.snapshot().config).to.include({ source: 'cache', revision: 9 });

    await rm(path.join(home.path, 'agent-state'), { recursive: true });
    await rm(localConfigDir(home.path), { recursive: true });
    expect(await agent.reload()).to.deep.equal({ added: [], removed: ['p1'], restarted: [] });
    expect(agent.snapshot().config).to.deep.equal({ signature: null, revision: null, source: 'none', document: null });
    expect(agent.snapshot().pipes).to.deep.equal([]);
  });

  it('re-applies the remote config when one is known', async () => {
    const remote = signed(configDoc(home.path, { sources: ['r'] }));
    peer = await FusionPeer.start({
      onHello: (_hello, socket, p) => {
        p.welcome(socket);
        p.send({ type: 'config', encoding: 'full', revision: 3, ...remote });
      },
    });
    await writeLocal(configDoc(home.path, { sources: ['l'] }));
    agent = fastAgent(home.path, { controlPlaneUri: peer.url, authToken: 'peer-token' });
    await agent.start();
    await agent.reload();
    expect(agent.snapshot().config).to.include({ source: 'remote', revision: 3, signature: remote.signature });
  });

  it('gives a detached snapshot', async () => {
    await writeLocal(configDoc(home.path));
    agent = fastAgent(home.path);
    await agent.start();
    const snapshot = agent.snapshot();
    (snapshot.config.document!.sources as Record<string, unknown>).injected = {};
    expect(agent.snapshot().config.document!.sources).not.to.have.property('injected');
  });
});
