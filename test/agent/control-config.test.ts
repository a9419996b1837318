import { expect } from 'chai';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { configSignature, diffDocuments } from '../../shared/config/index.js';
import type { PatchOperation } from '../../shared/protocol/index.js';
import type { Agent } from '../../agent/agent.js';
import { configCachePath } from '../../agent/config/config-cache.js';
import { agentVersion } from '../../agent/agent-version.js';
import { eventually } from '../harness/eventually.js';
import { tempHome } from '../harness/temp-home.js';
import { AGENT_ID, configDoc, fastAgent, signed } from './agent-fixture.js';
import { FusionPeer } from './fusion-peer.js';

describe('agent control channel: hello and config', () => {
  let home: { path: string; remove(): Promise<void> };
  let data: string;
  let peer: FusionPeer | undefined;
  let agent: Agent | undefined;

  beforeEach(async () => {
    home = await tempHome('agent-');
    data = path.join(home.path, 'data');
    await mkdir(data);
  });

  afterEach(async () => {
    await agent?.stop();
    await peer?.stop();
    await home.remove();
    if (peer) expect(peer.badFrames).to.deep.equal([]);
    agent = undefined;
    peer = undefined;
  });

  /** A peer that welcomes the agent and pushes `full` (if given) right after. */
  async function startPeer(full?: { revision: number; document: Record<string, unknown> }): Promise<FusionPeer> {
    return FusionPeer.start({
      onHello: (_hello, socket, p) => {
        p.welcome(socket);
        if (full) {
          const target = signed(full.document);
          p.send({ type: 'config', encoding: 'full', revision: full.revision, signature: target.signature, document: target.document });
        }
      },
    });
  }

  function connectAgent(p: FusionPeer): Agent {
    return fastAgent(home.path, { controlPlaneUri: p.url, authToken: 'peer-token', hostname: 'storage-a' });
  }

  it('authenticates at the upgrade and says who it is and what it runs in hello', async () => {
    peer = await startPeer();
    agent = connectAgent(peer);
    await agent.start();
    expect(peer.upgrades[0]).to.include({ authorization: 'Bearer peer-token', agentId: AGENT_ID });
    const [hello] = peer.framesOf('hello');
    expect(hello).to.deep.equal({
      type: 'hello',
      protocol_version: 1,
      agent_id: AGENT_ID,
      agent_version: agentVersion(),
      hostname: 'storage-a',
      capabilities: ['patch', 'config_request'],
      attributes: { os: process.platform, arch: process.arch, hostname: 'storage-a', agent_version: agentVersion() },
      config: { signature: null, revision: null, source: 'none' },
    });
    expect(agentVersion()).to.match(/^\d+\.\d+\.\d+/);
    const snapshot = agent.snapshot();
    expect(snapshot).to.include({ agentId: AGENT_ID, connected: true, sessionId: 's-1' });
  });

  it('applies a full config, acknowledges it with the pipe change and caches it', async () => {
    const target = signed(configDoc(data, { pipes: { p1: 'src' } }));
    peer = await startPeer({ revision: 3, document: target.document });
    agent = connectAgent(peer);
    await agent.start(); // resolves once the remote config runs
    const statuses = await eventually(() => peer!.framesOf('config_status').length === 2 && peer!.framesOf('config_status'));
    expect(statuses.map((s) => s.status)).to.deep.equal(['applying', 'applied']);
    expect(statuses[1]).to.deep.include({ signature: target.signature, revision: 3, pipes: { added: ['p1'], removed: [], restarted: [] } });
    expect(agent.snapshot().config).to.deep.include({ signature: target.signature, revision: 3, source: 'remote' });
    expect(agent.snapshot().pipes.map((p) => p.id)).to.deep.equal(['p1']);
    const cached = JSON.parse(await readFile(configCachePath(home.path), 'utf8')) as Record<string, unknown>;
    expect(cached).to.deep.include({ revision: 3, signature: target.signature, document: target.document });
  });

  it('applies a patch against the config it runs', async () => {
    const base = signed(configDoc(data));
    const next = signed(configDoc(data, { sources: ['src', 'src2'], pipes: { p2: 'src2' } }));
    peer = await startPeer({ revision: 1, document: base.document });
    agent = connectAgent(peer);
    await agent.start();
    peer.send({
      type: 'config',
      encoding: 'patch',
      revision: 2,
      signature: next.signature,
      base_signature: base.signature,
      patch: diffDocuments(base.document, next.document) as PatchOperation[],
    });
    // The ACK goes out after the agent's own state changes: wait for the frame, not the snapshot.
    const applied = await eventually(() => {
      const acks = peer!.framesOf('config_status').filter((s) => s.status === 'applied');
      expect(acks).to.have.length(2);
      return acks;
    });
    expect(applied.map((s) => s.revision)).to.deep.equal([1, 2]);
    expect(applied[1]!.pipes).to.deep.equal({ added: ['p2'], removed: [], restarted: [] });
    expect(agent.snapshot().config).to.deep.include({ revision: 2, source: 'remote', document: next.document });
    expect(peer.framesOf('config_request')).to.have.length(0);
  });

  it('asks for the full document when a patch does not reproduce the target, then applies it', async () => {
    const base = signed(configDoc(data));
    const next = signed(configDoc(data, { sources: ['src', 'src2'] }));
    peer = await startPeer({ revision: 1, document: base.document });
    agent = connectAgent(peer);
    await agent.start();
    // The patch yields another document than the one `next.signature` names.
    const wrong = signed(configDoc(data, { sources: ['src', 'other'] }));
    peer.send({ type: 'config', encoding: 'patch', revision: 2, signature: next.signature, base_signature: base.signature, patch: diffDocuments(base.document, wrong.document) as PatchOperation[] });
    const [request] = await eventually(() => peer!.framesOf('config_request').length === 1 && peer!.framesOf('config_request'));
    expect(request).to.include({ current_signature: base.signature });
    expect(request!.reason).to.match(/signature mismatch/);
    expect(agent.snapshot().config.signature).to.equal(base.signature);

    peer.send({ type: 'config', encoding: 'full', revision: 2, signature: next.signature, document: next.document });
    await eventually(() => agent!.snapshot().config.signature === next.signature);
  });

  it('asks for the full document when the patch base is not what it runs', async () => {
    const base = signed(configDoc(data));
    const next = signed(configDoc(data, { sources: ['src', 'src2'] }));
    peer = await startPeer({ revision: 1, document: base.document });
    agent = connectAgent(peer);
    await agent.start();
    const unknownBase = configSignature({ something: 'else' });
    peer.send({ type: 'config', encoding: 'patch', revision: 2, signature: next.signature, base_signature: unknownBase, patch: [] });
    const [request] = await eventually(() => peer!.framesOf('config_request').length === 1 && peer!.framesOf('config_request'));
    expect(request!.reason).to.include(unknownBase);
    expect(peer.framesOf('config_status').filter((s) => s.revision === 2)).to.have.length(0);
  });

  it('NACKs an invalid config with its problems and keeps the previous config', async () => {
    const base = signed(configDoc(data, { pipes: { p1: 'src' } }));
    peer = await startPeer({ revision: 1, document: base.document });
    agent = connectAgent(peer);
    const failures: string[] = [];
    agent.on('config_failed', (event) => failures.push(event.error));
    await agent.start();
    const invalid = { ...configDoc(data, { pipes: { p1: 'src' } }), pipes: { p1: { source: 'missing', sender: 'out' } } };
    const invalidSignature = configSignature(invalid);
    peer.send({ type: 'config', encoding: 'full', revision: 2, signature: invalidSignature, document: invalid });
    const [nack] = await eventually(() => peer!.framesOf('config_status').filter((s) => s.revision === 2).length > 0 && peer!.framesOf('config_status').filter((s) => s.revision === 2));
    expect(nack).to.include({ status: 'failed', signature: invalidSignature });
    expect(nack!.error).to.include('pipes.p1.source').and.include('unknown source "missing"');
    expect(failures).to.have.length(1);
    expect(agent.snapshot().config).to.include({ signature: base.signature, revision: 1 });
    expect(agent.snapshot().pipes.map((p) => p.id)).to.deep.equal(['p1']);
    const cached = JSON.parse(await readFile(configCachePath(home.path), 'utf8')) as { signature: string };
    expect(cached.signature).to.equal(base.signature);
  });

  it('NACKs a config the runtime cannot apply and keeps the previous pipes running', async () => {
    const base = signed(configDoc(data, { pipes: { p1: 'src' } }));
    peer = await startPeer({ revision: 1, document: base.document });
    agent = connectAgent(peer);
    await agent.start();
    const broken = configDoc(data, { sources: ['src', 'gone'], pipes: { p1: 'src', p2: 'gone' } });
    (broken.sources as Record<string, { uri: string }>).gone!.uri = path.join(home.path, 'does-not-exist');
    const target = signed(broken);
    peer.send({ type: 'config', encoding: 'full', revision: 2, signature: target.signature, document: target.document });
    const statuses = await eventually(() => {
      const list = peer!.framesOf('config_status').filter((s) => s.revision === 2);
      return list.length === 2 && list;
    });
    expect(statuses.map((s) => s.status)).to.deep.equal(['applying', 'failed']);
    expect(statuses[1]!.error).to.include('p2');
    expect(agent.snapshot().config).to.include({ signature: base.signature, revision: 1 });
    expect(agent.snapshot().pipes.map((p) => p.id)).to.deep.equal(['p1']);
  });

  it('refuses a document that does not match its announced signature', async () => {
    const base = signed(configDoc(data));
    const other = signed(configDoc(data, { sources: ['x'] }));
    peer = await startPeer({ revision: 1, document: base.document });
    agent = connectAgent(peer);
    await agent.start();
    peer.send({ type: 'config', encoding: 'full', revision: 2, signature: other.signature, document: signed(configDoc(data, { sources: ['y'] })).document });
    const [nack] = await eventually(() => peer!.framesOf('config_status').filter((s) => s.revision === 2).length > 0 && peer!.framesOf('config_status').filter((s) => s.revision === 2));
    expect(nack).to.include({ status: 'failed' });
    expect(nack!.error).to.match(/signature/);
    expect(agent.snapshot().config.signature).to.equal(base.signature);
  });

  it('ignores frames of unknown types and malformed frames and stays connected', async () => {
    peer = await startPeer();
    agent = connectAgent(peer);
    await agent.start();
    peer.socket!.send(JSON.stringify({ type: 'surprise', value: 1 }));
    peer.socket!.send(JSON.stringify({ type: 'config', encoding: 'full', revision: -1 }));
    peer.socket!.send('not json');
    const target = signed(configDoc(data));
    peer.send({ type: 'config', encoding: 'full', revision: 1, signature: target.signature, document: target.document });
    await eventually(() => agent!.snapshot().config.signature === target.signature);
    expect(peer.upgrades).to.have.length(1);
    expect(agent.snapshot().connected).to.equal(true);
  });
});
