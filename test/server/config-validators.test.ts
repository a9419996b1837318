import { expect } from 'chai';
import { request } from 'node:http';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { sampleYaml } from '../harness/sample-config.js';

describe('config validators: an ETag per stored text and representation, Vary: Accept', () => {
  let fusion: TestFusion;
  const path = '/api/v1/management/agents/node-1/config';
  beforeEach(async () => {
    fusion = await startFusion();
  });
  afterEach(async () => {
    await fusion.stop();
  });

  const save = (body: string, headers: Record<string, string> = {}): Promise<Response> =>
    fusion.api(path, { method: 'POST', headers: { 'content-type': 'application/yaml', ...headers }, body });
  const get = (accept: string, headers: Record<string, string> = {}): Promise<Response> => fusion.api(path, { headers: { accept, ...headers } });

  /** A conditional GET as a browser cache sends it (fetch would add Cache-Control: no-cache, which defeats 304). */
  const revalidate = (accept: string, ifNoneMatch: string): Promise<{ status: number; type: string; body: string }> =>
    new Promise((resolve, reject) => {
      const req = request(`${fusion.url}${path}`, { headers: { accept, 'if-none-match': ifNoneMatch, authorization: `Bearer ${fusion.adminToken}` } }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
      });
      req.on('error', reject).end();
    });

  it('gives YAML and JSON their own ETag, varies by Accept, and never answers one representation 304 with the other\'s ETag', async () => {
    const saved = await save(sampleYaml());
    expect(saved.status).to.equal(201);
    const yaml = await get('application/yaml');
    const json = await get('application/json');
    const yamlTag = yaml.headers.get('etag')!;
    const jsonTag = json.headers.get('etag')!;
    expect(yamlTag).to.match(/^"1-[0-9a-f]{16}\.yaml"$/);
    expect(jsonTag).to.match(/^"1-[0-9a-f]{16}\.json"$/);
    expect(saved.headers.get('etag')).to.equal(yamlTag);
    for (const res of [yaml, json]) {
      expect(res.headers.get('vary')).to.match(/accept/i);
      expect(res.headers.get('cache-control')).to.equal('no-cache');
      expect(res.headers.get('x-config-signature')).to.equal((await saved.clone().json() as { signature: string }).signature);
    }
    // What a browser cache does when the editor asks for YAML after the JSON was cached.
    const crossed = await revalidate('application/yaml', jsonTag);
    expect(crossed.status).to.equal(200);
    expect(crossed.type).to.match(/yaml/);
    expect(crossed.body).to.equal(sampleYaml());
    expect((await revalidate('application/yaml', yamlTag)).status).to.equal(304);
    expect((await revalidate('application/json', jsonTag)).status).to.equal(304);
    expect((await revalidate('application/json', yamlTag)).status).to.equal(200);
  });

  it('catches a concurrent comment-only edit: two saves with the same If-Match, the second gets 412', async () => {
    await save(sampleYaml());
    const etag = (await get('application/yaml')).headers.get('etag')!;
    const first = await save(`# Alice: keep this note\n${sampleYaml()}`, { 'if-match': etag });
    expect(first.status).to.equal(201);
    const second = await save(`# Bob: another note\n${sampleYaml()}`, { 'if-match': etag });
    expect(second.status).to.equal(412);
    const body = (await second.json()) as { error: { code: string; details: { current_version: string; current_signature: string } } };
    expect(body.error.code).to.equal('precondition_failed');
    expect(`"${body.error.details.current_version}.yaml"`).to.equal(first.headers.get('etag'));
    expect(await (await get('application/yaml')).text()).to.match(/^# Alice/);
    // The JSON representation's ETag names the same stored text, so it works as If-Match too.
    const jsonTag = (await get('application/json')).headers.get('etag')!;
    const third = await save(`# Carol\n${sampleYaml()}`, { 'if-match': jsonTag });
    expect(third.status).to.equal(201);
  });

  it('still accepts the signature in If-Match (older clients), which detects only a change of meaning', async () => {
    const first = (await (await save(sampleYaml())).json()) as { signature: string };
    const commentOnly = await save(`# a comment\n${sampleYaml()}`, { 'if-match': `"${first.signature}"` });
    expect(commentOnly.status).to.equal(201);
    const changed = await save(sampleYaml({ pipes: 2 }), { 'if-match': `"${first.signature}"` });
    expect(changed.status).to.equal(201);
    const stale = await save(sampleYaml({ pipes: 3 }), { 'if-match': `"${first.signature}"` });
    expect(stale.status).to.equal(412);
    const list = await save(sampleYaml({ pipes: 3 }), { 'if-match': `"nope", ${(await get('application/yaml')).headers.get('etag')}` });
    expect(list.status).to.equal(201);
    const star = await fusion.api('/api/v1/management/agents/node-2/config', { method: 'POST', headers: { 'content-type': 'application/yaml', 'if-match': '*' }, body: sampleYaml() });
    expect(star.status).to.equal(412);
  });

  it('gives a group template the same kind of ETag: a comment-only edit in between makes a save stale', async () => {
    const template = 'sources:\n  data: { driver: fs, uri: "/srv/${agent_id}" }\n';
    const created = await fusion.api('/api/v1/management/groups', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'web', template }),
    });
    expect(created.status).to.equal(201);
    const got = await fusion.api('/api/v1/management/groups/web/template');
    const etag = got.headers.get('etag')!;
    expect(etag).to.match(/^"1-[0-9a-f]{16}\.yaml"$/);
    expect(created.headers.get('etag')).to.equal(etag);
    const summary = await fusion.api('/api/v1/management/groups/web');
    expect(summary.headers.get('etag')).to.equal(etag.replace('.yaml', '.json'));
    const put = (text: string): Promise<Response> =>
      fusion.api('/api/v1/management/groups/web/template', { method: 'PUT', headers: { 'content-type': 'application/yaml', 'if-match': etag }, body: text });
    expect((await put(`# first\n${template}`)).status).to.equal(200);
    const second = await put(`# second\n${template}`);
    expect(second.status).to.equal(412);
    expect(((await second.json()) as { error: { details: { current_version: string } } }).error.details.current_version).to.match(/^2-/);
  });
});

