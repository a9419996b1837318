import { expect } from 'chai';
import { configSignature, validateConfig } from '../harness/protocol-imports.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { sampleConfig, sampleYaml } from '../harness/sample-config.js';

describe('Fusion config API', () => {
  let fusion: TestFusion;
  beforeEach(async () => {
    fusion = await startFusion();
  });
  afterEach(async () => {
    await fusion.stop();
  });

  const postYaml = (path: string, body: string, headers: Record<string, string> = {}): Promise<Response> =>
    fusion.api(path, { method: 'POST', headers: { 'content-type': 'application/yaml', ...headers }, body });

  it('stores YAML as written, serves it back, and JSON on request; each save is a revision', async () => {
    const yaml = sampleYaml();
    const res = await postYaml('/api/v1/control/configs/node-1', yaml);
    expect(res.status).to.equal(201);
    const body = await res.json() as any;
    expect(body).to.include({ agent_id: 'node-1', revision: 1 });
    const asYaml = await fusion.api('/api/v1/control/configs/node-1');
    expect(asYaml.headers.get('content-type')).to.match(/yaml/);
    expect(await asYaml.text()).to.equal(yaml);
    expect(asYaml.headers.get('x-config-signature')).to.equal(body.signature);
    expect(asYaml.headers.get('etag')).to.equal(res.headers.get('etag'));
    const asJson = await fusion.api('/api/v1/management/agents/node-1/config', { headers: { accept: 'application/json' } });
    const json = await asJson.json() as any;
    const check = validateConfig(sampleConfig());
    expect(check.ok).to.equal(true);
    if (check.ok) expect(json.document).to.deep.equal(check.config);
    expect(json.signature).to.equal(body.signature);
    await postYaml('/api/v1/control/configs/node-1', `# only a comment changed\n${yaml}`);
    const history = await (await fusion.api('/api/v1/control/configs/node-1/history')).json() as any;
    expect(history.revisions.map((r: any) => r.revision)).to.deep.equal([2, 1]);
    expect(history.revisions[0].signature).to.equal(history.revisions[1].signature);
    const old = await fusion.api('/api/v1/control/configs/node-1/history/1');
    expect(await old.text()).to.equal(yaml);
  });

  it('honours If-Match: the current ETag saves, a stale one gets 412 and nothing is stored', async () => {
    const first = await (await postYaml('/api/v1/control/configs/node-1', sampleYaml())).json() as any;
    const ok = await postYaml('/api/v1/control/configs/node-1', sampleYaml({ pipes: 2 }), { 'if-match': `"${first.signature}"` });
    expect(ok.status).to.equal(201);
    const stale = await postYaml('/api/v1/control/configs/node-1', sampleYaml({ pipes: 3 }), { 'if-match': `"${first.signature}"` });
    expect(stale.status).to.equal(412);
    const err = await stale.json() as any;
    expect(err.error.code).to.equal('precondition_failed');
    expect(err.error.details.current_signature).to.equal((await ok.json() as any).signature);
    const history = await (await fusion.api('/api/v1/control/configs/node-1/history')).json() as any;
    expect(history.revisions).to.have.length(2);
    const fresh = await postYaml('/api/v1/control/configs/node-9', sampleYaml(), { 'if-match': '"sha256:' + '0'.repeat(64) + '"' });
    expect(fresh.status).to.equal(412);
  });

  it('refuses invalid YAML and broken references with 400 listing every error; nothing is stored', async () => {
    const syntax = await postYaml('/api/v1/control/configs/node-1', 'sources: [unclosed\n');
    expect(syntax.status).to.equal(400);
    const syntaxBody = await syntax.json() as any;
    expect(syntaxBody.error.code).to.equal('invalid_config');
    expect(syntaxBody.error.details[0].message).to.match(/invalid YAML/);
    const broken = await postYaml(
      '/api/v1/control/configs/node-1',
      'sources:\n  s: {driver: fs, uri: /d}\nsenders:\n  f: {driver: carrier-pigeon, uri: x}\npipes:\n  p1: {source: nope, sender: f}\n  p2: {source: s, sender: gone}\n',
    );
    expect(broken.status).to.equal(400);
    const details = (await broken.json() as any).error.details;
    expect(details.map((d: any) => d.path)).to.have.members(['senders.f.driver', 'pipes.p1.source', 'pipes.p2.sender']);
    const get = await fusion.api('/api/v1/control/configs/node-1');
    expect(get.status).to.equal(404);
    const agents = await (await fusion.api('/api/v1/management/agents')).json() as any;
    expect(agents.agents).to.deep.equal([]);
  });

  it('refuses unsupported media types, bad agent ids and oversized bodies clearly', async () => {
    const media = await fusion.api('/api/v1/control/configs/node-1', { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<x/>' });
    expect(media.status).to.equal(415);
    const badId = await postYaml('/api/v1/control/configs/..%2Fetc', sampleYaml());
    expect(badId.status).to.equal(400);
    const big = await postYaml('/api/v1/control/configs/node-1', `x: "${'a'.repeat(1024 * 1024 + 10)}"`);
    expect(big.status).to.equal(413);
    expect((await big.json() as any).error.code).to.equal('payload_too_large');
  });

  it('requires the admin token', async () => {
    const none = await fetch(`${fusion.url}/api/v1/management/agents`);
    expect(none.status).to.equal(401);
    const wrong = await fusion.api('/api/v1/management/agents', { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).to.equal(401);
    const enrollment = await fusion.api('/api/v1/control/configs/node-1', { headers: { authorization: `Bearer ${fusion.enrollmentToken}` } });
    expect(enrollment.status).to.equal(401);
  });

  it('serves the polling endpoint: 304 when current, 200 with the document otherwise', async () => {
    const pull = (sig?: string, token = fusion.enrollmentToken): Promise<Response> =>
      fetch(`${fusion.url}/api/v1/control/configs/pull?agent_id=node-1${sig ? `&current_signature=${sig}` : ''}`, {
        headers: { authorization: `Bearer ${token}` },
      });
    expect((await pull()).status).to.equal(404);
    const saved = await (await postYaml('/api/v1/control/configs/node-1', sampleYaml())).json() as any;
    const full = await pull();
    expect(full.status).to.equal(200);
    expect(full.headers.get('x-config-signature')).to.equal(saved.signature);
    const body = await full.json() as any;
    expect(configSignature(body.document)).to.equal(saved.signature);
    expect(body.revision).to.equal(1);
    const current = await pull(saved.signature);
    expect(current.status).to.equal(304);
    const state = (await (await fusion.api('/api/v1/management/agents/node-1')).json()) as any;
    expect(state.config).to.include({ status: 'applied', applied_signature: saved.signature });
    expect((await pull(undefined, 'wrong')).status).to.equal(401);
    expect((await pull('garbage')).status).to.equal(400);
  });
});
