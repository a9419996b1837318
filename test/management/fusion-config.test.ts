import { expect } from 'chai';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TestEventStream } from './event-stream-client.js';
import {
  ARCHIVE_KEY,
  FUSION_YAML,
  FUSION_YAML_WITH_ARCHIVE,
  INGEST_KEY,
  createAdminToken,
  getJson,
  openSession,
  pushEvents,
  sessionHeaders,
  startManagedFusion,
  type ManagedFusion,
} from './management-harness.js';

describe('management: fusion.yaml', () => {
  let fusion: ManagedFusion;
  const streams: TestEventStream[] = [];
  const post = async (path: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: any }> => {
    const res = await fusion.api(path, { method: 'POST', headers: { 'content-type': 'application/yaml', ...headers }, body });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
  };
  const fileText = (): Promise<string> => readFile(join(fusion.home, 'fusion.yaml'), 'utf8');

  beforeEach(async () => {
    fusion = await startManagedFusion();
  });
  afterEach(async () => {
    for (const s of streams.splice(0)) s.close();
    await fusion.close();
  });

  it('serves the file as YAML or as JSON with the document and validity, each with its own ETag and the signature beside it', async () => {
    const yaml = await fusion.api('/api/v1/management/config');
    expect(yaml.status).to.equal(200);
    expect(yaml.headers.get('content-type')).to.match(/^application\/yaml/);
    expect(await yaml.text()).to.equal(FUSION_YAML);
    const etag = yaml.headers.get('etag');
    expect(etag).to.match(/^"file-[0-9a-f]{16}\.yaml"$/);
    expect(yaml.headers.get('vary')).to.match(/accept/i);
    expect(yaml.headers.get('x-config-signature')).to.match(/^sha256:[0-9a-f]{64}$/);

    const json = await getJson(fusion, '/api/v1/management/config');
    expect(json.body).to.include({ exists: true, valid: true, text: FUSION_YAML, path: join(fusion.home, 'fusion.yaml') });
    expect(json.body.signature).to.equal(yaml.headers.get('x-config-signature'));
    expect(json.body.version).to.equal(etag!.slice(1, -'.yaml"'.length));
    expect(json.body.applied_signature).to.equal(json.body.signature);
    expect(json.body.document.receivers.main).to.include({ driver: 'http', session_timeout_seconds: 30 });
    expect(json.body.document.pipes.main).to.deep.equal({ receiver: 'main', views: ['tree'], disabled: false });
  });

  it('is for the admin role only: the file holds receiver keys', async () => {
    const viewer = await createAdminToken(fusion.home, 'viewer');
    const operator = await createAdminToken(fusion.home, 'operator');
    for (const token of [viewer.secret, operator.secret]) {
      const read = await fusion.api('/api/v1/management/config', { headers: { authorization: `Bearer ${token}` } });
      expect(read.status).to.equal(403);
      expect(((await read.json()) as any).error.code).to.equal('forbidden');
      const write = await post('/api/v1/management/config', FUSION_YAML, { authorization: `Bearer ${token}` });
      expect(write.status).to.equal(403);
      const reload = await post('/api/v1/management/reload', '', { authorization: `Bearer ${token}` });
      expect(reload.status).to.equal(403);
    }
    const anonymous = await fetch(`${fusion.url}/api/v1/management/config`);
    expect(anonymous.status).to.equal(401);
    await anonymous.arrayBuffer();
  });

  it('refuses an invalid config with 400 listing every problem, and changes nothing', async () => {
    const before = await getJson(fusion, '/api/v1/management/config');
    const broken = `receivers:
  main: { driver: smtp, api_keys: [{ key: k1, pipe_id: ghost }] }
views:
  tree: { driver: sql }
pipes:
  main: { receiver: nowhere, views: [tree, missing] }
`;
    const res = await post('/api/v1/management/config', broken);
    expect(res.status).to.equal(400);
    expect(res.body.error.code).to.equal('invalid_fusion_config');
    const paths = res.body.error.details.map((d: any) => d.path);
    expect(paths).to.include.members([
      'receivers.main.driver',
      'views.tree.driver',
      'pipes.main.receiver',
      'pipes.main.views.1',
      'receivers.main.api_keys.0.pipe_id',
    ]);
    const syntax = await post('/api/v1/management/config', 'receivers: [unclosed');
    expect(syntax.status).to.equal(400);
    expect(syntax.body.error.details[0].message).to.match(/invalid YAML/);
    const schema = await post('/api/v1/management/config', 'receivers: {}\nextra: 1\n');
    expect(schema.status).to.equal(400);
    const unsupported = await post('/api/v1/management/config', FUSION_YAML, { 'content-type': 'application/octet-stream' });
    expect(unsupported.status).to.equal(415);

    expect(await fileText()).to.equal(FUSION_YAML);
    const after = await getJson(fusion, '/api/v1/management/config');
    expect(after.body.applied_signature).to.equal(before.body.applied_signature);
  });

  it('honours If-Match: a stale signature gets 412 with the current one', async () => {
    const current = await getJson(fusion, '/api/v1/management/config');
    const stale = await post('/api/v1/management/config', FUSION_YAML_WITH_ARCHIVE, { 'if-match': '"sha256:' + '0'.repeat(64) + '"' });
    expect(stale.status).to.equal(412);
    expect(stale.body.error).to.deep.include({ code: 'precondition_failed', details: { current_signature: current.body.signature, current_version: current.body.version } });
    expect(await fileText()).to.equal(FUSION_YAML);

    const fresh = await post('/api/v1/management/config', FUSION_YAML_WITH_ARCHIVE, { 'if-match': `"${current.body.signature}"` });
    expect(fresh.status).to.equal(200);
    expect(fresh.headers.get('x-config-signature')).to.equal(fresh.body.signature);
    expect(fresh.headers.get('etag')).to.equal(`"${fresh.body.version}.yaml"`);
    // A comment-only edit keeps the signature but changes the ETag, so a writer holding the old ETag is stale.
    const commented = await post('/api/v1/management/config', `# note\n${FUSION_YAML_WITH_ARCHIVE}`, { 'if-match': fresh.headers.get('etag')! });
    expect(commented.status).to.equal(200);
    expect(commented.body.signature).to.equal(fresh.body.signature);
    const racing = await post('/api/v1/management/config', `# other note\n${FUSION_YAML_WITH_ARCHIVE}`, { 'if-match': fresh.headers.get('etag')! });
    expect(racing.status).to.equal(412);
    // The writer who saw the old signature is now stale too.
    const late = await post('/api/v1/management/config', FUSION_YAML, { 'if-match': `"${current.body.signature}"` });
    expect(late.status).to.equal(412);
    const any = await post('/api/v1/management/config', FUSION_YAML, { 'if-match': '*' });
    expect(any.status).to.equal(200);
  });

  it('applies a saved change without a restart and writes the file atomically, comments kept', async () => {
    const stream = await TestEventStream.open(fusion.url, { headers: { authorization: `Bearer ${fusion.adminToken}` }, query: 'types=fusion.*,session.closed' });
    streams.push(stream);
    const session = await openSession(fusion.url, INGEST_KEY, 'node-1', 'research');
    expect(await pushEvents(fusion.url, INGEST_KEY, session.body.session_id, ['a.txt', 'b.txt'])).to.equal(200);
    // Before: the archive key opens nothing.
    expect((await openSession(fusion.url, ARCHIVE_KEY, 'node-1', 'archive')).status).to.equal(401);

    const saved = await post('/api/v1/management/config', FUSION_YAML_WITH_ARCHIVE);
    expect(saved.status).to.equal(200);
    expect(saved.body.changes).to.deep.equal({
      receivers: { added: [], removed: [], changed: ['main'] },
      views: { added: ['archive'], removed: [], changed: [] },
      pipes: { added: ['archive'], removed: [], changed: [] },
    });
    const applied = await stream.next('fusion.config_applied');
    expect(applied.data.data).to.deep.include({ signature: saved.body.signature, trigger: 'api' });

    const archive = await openSession(fusion.url, ARCHIVE_KEY, 'node-1', 'archive');
    expect(archive.status).to.equal(201);
    expect(archive.body.view_ids).to.deep.equal(['archive']);
    const stats = await fetch(`${fusion.url}/api/v1/views/tree/stats`, { headers: { 'x-api-key': INGEST_KEY } });
    expect(((await stats.json()) as any).files).to.equal(2, 'the view that stayed kept its data');

    expect(await fileText()).to.equal(FUSION_YAML_WITH_ARCHIVE);
    expect((await stat(join(fusion.home, 'fusion.yaml'))).mode & 0o777).to.equal(0o600);
    expect((await readdir(fusion.home)).filter((f) => f.endsWith('.tmp'))).to.deep.equal([]);

    // Removing the pipe ends its sessions at once.
    const withoutMain = FUSION_YAML_WITH_ARCHIVE.replace(`      - { key: ${INGEST_KEY}, pipe_id: main }\n`, '').replace('  main:\n    receiver: main\n    views: [tree]\n', '');
    const removed = await post('/api/v1/management/config', withoutMain);
    expect(removed.status).to.equal(200);
    expect(removed.body.changes.pipes).to.deep.equal({ added: [], removed: ['main'], changed: [] });
    expect((await stream.next('session.closed')).data.data).to.include({ session_id: session.body.session_id, reason: 'pipe_removed' });
    const heartbeat = await fetch(`${fusion.url}/api/v1/pipe/sessions/${archive.body.session_id}/heartbeat`, { method: 'POST', headers: sessionHeaders(ARCHIVE_KEY, archive.body.session_id) });
    expect(heartbeat.status).to.equal(200, 'the archive session lives on');
    await heartbeat.arrayBuffer();
  });

  it('accepts a JSON document and writes it as YAML', async () => {
    const document = { receivers: { r: { driver: 'http', api_keys: [{ key: 'json-key-0123456789', pipe_id: 'p' }] } }, views: { v: { driver: 'fs' } }, pipes: { p: { receiver: 'r', views: ['v'] } } };
    const res = await post('/api/v1/management/config', JSON.stringify(document), { 'content-type': 'application/json' });
    expect(res.status).to.equal(200);
    const text = await fileText();
    expect(text).to.match(/^# Fusion data plane/);
    expect(text).to.include('json-key-0123456789');
    expect((await openSession(fusion.url, 'json-key-0123456789', 'node-1', 'x')).status).to.equal(201);
  });

  it('re-reads the file on POST /reload; an invalid file is refused and the config in force stays', async () => {
    await writeFile(join(fusion.home, 'fusion.yaml'), FUSION_YAML_WITH_ARCHIVE);
    expect((await openSession(fusion.url, ARCHIVE_KEY, 'node-1', 'archive')).status).to.equal(401, 'a file edit alone changes nothing');
    const reloaded = await post('/api/v1/management/reload', '');
    expect(reloaded.status).to.equal(200);
    expect(reloaded.body.changes.views.added).to.deep.equal(['archive']);
    expect((await openSession(fusion.url, ARCHIVE_KEY, 'node-1', 'archive')).status).to.equal(201);

    await writeFile(join(fusion.home, 'fusion.yaml'), 'pipes:\n  x: { receiver: none, views: [none] }\n');
    const refused = await post('/api/v1/management/reload', '');
    expect(refused.status).to.equal(400);
    expect(refused.body.error.details.map((d: any) => d.path)).to.deep.equal(['pipes.x.receiver', 'pipes.x.views.0']);
    const state = await getJson(fusion, '/api/v1/management/config');
    expect(state.body).to.include({ valid: false, applied_signature: reloaded.body.signature });
    expect((await openSession(fusion.url, ARCHIVE_KEY, 'node-1', 'archive')).status).to.equal(201);
  });
});
