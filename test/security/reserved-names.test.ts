import { expect } from 'chai';
import { sampleYaml, startFusion, type TestFusion } from '../harness/index.js';

interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

describe('security: reserved names and deep documents get a 400 naming the problem', () => {
  let fusion: TestFusion;

  before(async () => {
    fusion = await startFusion();
  });
  after(async () => {
    await fusion.stop();
  });

  const post = async (path: string, type: string, body: string, method = 'POST'): Promise<{ status: number; body: ErrorBody }> => {
    const res = await fusion.api(path, { method, headers: { 'content-type': type }, body });
    return { status: res.status, body: (await res.json()) as ErrorBody };
  };
  const config = '/api/v1/management/agents/node-1/config';
  const sender = 'senders:\n  out: {driver: fusion, uri: "http://127.0.0.1:1", credential: {key: k}}\n';

  it('refuses a pipe whose source or sender names an inherited property (constructor, toString, hasOwnProperty)', async () => {
    const yaml = `sources:\n  src: {driver: fs, uri: /tmp}\n${sender}pipes:\n  p1: {source: constructor, sender: toString}\n  p2: {source: hasOwnProperty, sender: out}\n`;
    const res = await post(config, 'application/yaml', yaml);
    expect(res.status).to.equal(400);
    const text = JSON.stringify(res.body.error.details);
    expect(text).to.include('pipes.p1.source').and.include('unknown source \\"constructor\\"');
    expect(text).to.include('pipes.p1.sender').and.include('pipes.p2.source');
    expect((await fusion.api(config)).status).to.equal(404);
  });

  it('refuses __proto__ and constructor as source names, in YAML and in JSON, naming the key', async () => {
    for (const name of ['__proto__', 'constructor', 'prototype', 'toString']) {
      const yaml = `sources:\n  "${name}": {driver: fs, uri: /tmp}\n${sender}`;
      const res = await post(config, 'application/yaml', yaml);
      expect(res.status, name).to.equal(400);
      expect(JSON.stringify(res.body.error.details)).to.include(`sources.${name}`);
    }
    const json = `{"sources":{"__proto__":{"driver":"fs","uri":"/tmp"}},"senders":{},"pipes":{}}`;
    const structured = await post(`${config}/structured`, 'application/json', json);
    expect(structured.status).to.equal(400);
    expect(structured.body.error.code).to.equal('reserved_key');
    expect(structured.body.error.message).to.include('sources.__proto__');
    expect((await fusion.api(config)).status).to.equal(404);
  });

  it('refuses __proto__ as a group variable and in a group template', async () => {
    const created = await post('/api/v1/management/groups', 'application/json', JSON.stringify({ name: 'g1', template: sampleYaml() }));
    expect(created.status).to.equal(201);
    const member = await post('/api/v1/management/groups/g1/members/node-2', 'application/json', '{"variables":{"__proto__":"x","root":"/tmp"}}', 'PUT');
    expect(member.status).to.equal(400);
    expect(member.body.error.code).to.equal('reserved_key');
    expect(member.body.error.message).to.include('variables.__proto__');
    const template = await post('/api/v1/management/groups/g1/template', 'application/yaml', `${sampleYaml()}\nconstructor: 1\n`, 'PUT');
    expect(template.status).to.equal(400);
    expect(JSON.stringify(template.body)).to.include('constructor');
  });

  it('refuses __proto__ as a view, receiver or pipe name in fusion.yaml', async () => {
    for (const section of ['views', 'receivers', 'pipes']) {
      const res = await post('/api/v1/management/config', 'application/yaml', `${section}:\n  __proto__: {driver: fs}\n`);
      expect(res.status, section).to.equal(400);
      expect(JSON.stringify(res.body.error.details), section).to.include(`${section}.__proto__`);
    }
  });

  it('answers 100k-deep JSON and YAML with 400, never 500', async () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const command = await post('/api/v1/management/commands', 'application/json', `{"type":"scan","args":${deep}}`);
    expect(command.status).to.equal(400);
    expect(command.body.error.code).to.equal('too_deep');
    const structured = await post(`${config}/structured`, 'application/json', `{"sources":${deep}}`);
    expect(structured.status).to.equal(400);
    expect(structured.body.error.code).to.equal('too_deep');
    const yaml = await post(config, 'application/yaml', `sources: ${'['.repeat(5000)}${']'.repeat(5000)}`);
    expect(yaml.status).to.equal(400);
    const fusionYaml = await post('/api/v1/management/config', 'application/yaml', `views: ${'{a: '.repeat(1000)}1${'}'.repeat(1000)}`);
    expect(fusionYaml.status).to.equal(400);
    expect((await fusion.api('/healthz')).status).to.equal(200);
  });
});
