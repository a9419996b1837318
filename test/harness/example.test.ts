// The example of docs/harness.md: keep the two identical.
import { expect } from 'chai';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import {
  CloseCode,
  RawAgentClient,
  configSignature,
  eventually,
  sampleConfig,
  startAgent,
  startFusion,
  tempHome,
  validateConfig,
  type TestAgent,
  type TestFusion,
} from 'fustor/testing';

describe('harness example: a config saved in Fusion reaches agents', () => {
  let fusion: TestFusion;
  let data: Awaited<ReturnType<typeof tempHome>>;
  let node: TestAgent | undefined;
  let raw: RawAgentClient | undefined;

  beforeEach(async () => {
    fusion = await startFusion(); // port 0, temporary home, known tokens
    data = await tempHome('data-'); // the directories the agent's pipes read
  });

  afterEach(async () => {
    raw?.close();
    await node?.stop(); // also removes its home
    raw = node = undefined;
    await fusion.stop(); // also removes its home
    await data.remove();
  });

  it('pushes a saved config to a real agent, which applies it', async () => {
    for (const dir of ['data-0', 'data-1']) await mkdir(path.join(data.path, dir));
    const document = sampleConfig({ pipes: 2, root: data.path });
    const res = await fusion.api('/api/v1/management/agents/node-1/config/structured', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(document),
    });
    expect(res.status).to.equal(201);

    node = await startAgent(fusion, { agentId: 'node-1' }); // a real Agent; resolves once it runs the config Fusion sent
    const checked = validateConfig(document);
    if (!checked.ok) throw new Error('sample config is invalid');
    expect(node.agent.snapshot().config.signature).to.equal(configSignature(checked.config));
    await eventually(async () => {
      const state = (await (await fusion.api('/api/v1/management/agents/node-1')).json()) as { config: { status: string } };
      return state.config.status === 'applied';
    });
  });

  it('speaks the protocol frame by frame with a raw client, and refuses a malformed frame', async () => {
    raw = await RawAgentClient.connect(fusion.url, 'node-2', fusion.enrollmentToken);
    const welcome = await raw.hello(); // sends hello, awaits welcome
    expect(welcome.heartbeat_interval_ms).to.be.greaterThan(0);

    raw.sendRaw('{"type":"config_status"}'); // fails its schema
    const error = await raw.next('error');
    expect(error.code).to.equal('protocol_error');
    expect(await raw.closed()).to.equal(CloseCode.ProtocolError);
  });
});
