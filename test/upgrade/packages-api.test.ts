import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { AGENT_ID_HEADER } from '../../shared/protocol/index.js';
import { writeTarGz } from '../../shared/package/tar.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { RawAgentClient } from '../harness/raw-client.js';
import { tempHome } from '../harness/temp-home.js';
import { buildPackage } from './upgrade-fixtures.js';

interface PackageJson {
  version: string;
  sha256: string;
  size: number;
  uploaded_at: number;
  uploaded_by: string;
}
type ErrorJson = { error: { code: string; message: string } };

describe('agent packages in Fusion: upload, list, download, delete', function () {
  this.timeout(30_000);
  let fusion: TestFusion;
  let dir: { path: string; remove(): Promise<void> };
  let tgz: Buffer;
  let tgzOther: Buffer;

  const upload = (body: Buffer, init: { query?: string; type?: string; token?: string } = {}): Promise<Response> =>
    fusion.api(`/api/v1/management/packages${init.query ?? ''}`, {
      method: 'POST',
      headers: { 'content-type': init.type ?? 'application/gzip', ...(init.token && { authorization: `Bearer ${init.token}` }) },
      body,
    });
  const download = (version: string, agentId: string | undefined, token: string | undefined): Promise<Response> =>
    fetch(`${fusion.url}/api/v1/control/packages/${version}`, {
      headers: { ...(agentId && { [AGENT_ID_HEADER]: agentId }), ...(token && { authorization: `Bearer ${token}` }) },
    });
  const errorCode = async (res: Response): Promise<string> => ((await res.json()) as ErrorJson).error.code;
  const command = (version: string, sha256?: string): Promise<Response> =>
    fusion.api('/api/v1/management/agents/pkg-agent/command', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'upgrade', args: { version, ...(sha256 && { sha256 }) } }),
    });

  before(async () => {
    dir = await tempHome('packages-api-');
    tgz = await readFile((await buildPackage(dir.path, '1.2.3')).file);
    tgzOther = await readFile((await buildPackage(dir.path, '1.2.4')).file);
  });
  after(async () => {
    await dir.remove();
  });
  beforeEach(async () => {
    fusion = await startFusion();
  });
  afterEach(async () => {
    await fusion.stop();
  });

  it('records version (from the package), sha256, size and uploader; lists and shows it; keeps it across a restart', async () => {
    const res = await upload(tgz);
    expect(res.status).to.equal(201);
    const record = (await res.json()) as PackageJson;
    expect(record).to.include({ version: '1.2.3', sha256: createHash('sha256').update(tgz).digest('hex'), size: tgz.length });
    expect(record.uploaded_by).to.be.a('string').and.not.equal('');
    expect(((await (await fusion.api('/api/v1/management/packages')).json()) as { packages: PackageJson[] }).packages).to.deep.equal([record]);
    expect(await (await fusion.api('/api/v1/management/packages/1.2.3')).json()).to.deep.equal(record);
    await fusion.restart();
    expect(await (await fusion.api('/api/v1/management/packages/1.2.3')).json()).to.deep.equal(record);
  });

  it('refuses a duplicate version, a version that disagrees with the package, a non-package and a wrong content type', async () => {
    expect((await upload(tgz)).status).to.equal(201);
    const duplicate = await upload(tgz);
    expect(duplicate.status).to.equal(409);
    expect(await errorCode(duplicate)).to.equal('package_exists');

    const mismatch = await upload(tgzOther, { query: '?version=9.9.9' });
    expect(mismatch.status).to.equal(400);
    expect(await errorCode(mismatch)).to.equal('version_mismatch');
    expect((await upload(tgzOther, { query: '?version=1.2.4', type: 'application/octet-stream' })).status).to.equal(201);

    const garbage = await upload(Buffer.from('not a tarball'));
    expect(garbage.status).to.equal(400);
    expect(await errorCode(garbage)).to.equal('invalid_package');
    const notAgent = await upload(writeTarGz([{ type: 'file', path: 'package/package.json', mode: 0o644, data: Buffer.from('{"name":"left-pad","version":"1.0.0"}') }]));
    expect(notAgent.status).to.equal(400);
    expect((await notAgent.json()) as ErrorJson).to.have.nested.property('error.message').that.includes('package.json: name');
    const empty = await upload(gzipSync(Buffer.alloc(1024)));
    expect(empty.status).to.equal(400);

    const json = await upload(Buffer.from('{}'), { type: 'application/json' });
    expect(json.status).to.equal(415);
    expect(await errorCode(json)).to.equal('unsupported_media_type');
    expect(((await (await fusion.api('/api/v1/management/packages')).json()) as { packages: PackageJson[] }).packages.map((p) => p.version)).to.deep.equal([
      '1.2.3',
      '1.2.4',
    ]);
  });

  it('needs the admin role to upload and delete, any admin token to list', async () => {
    const viewer = (await (
      await fusion.api('/api/v1/management/admin-tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'viewer-1', role: 'viewer' }) })
    ).json()) as { secret: string };
    expect((await upload(tgz, { token: viewer.secret })).status).to.equal(403);
    expect((await upload(tgz, { token: 'nope' })).status).to.equal(401);
    expect((await upload(tgz)).status).to.equal(201);
    expect((await fusion.api('/api/v1/management/packages', { headers: { authorization: `Bearer ${viewer.secret}` } })).status).to.equal(200);
    expect((await fusion.api('/api/v1/management/packages/1.2.3', { method: 'DELETE', headers: { authorization: `Bearer ${viewer.secret}` } })).status).to.equal(403);
  });

  it('refuses a package over the size limit with 413', async () => {
    await fusion.stop();
    fusion = await startFusion({ maxPackageBytes: 1024 });
    const res = await upload(tgz);
    expect(res.status).to.equal(413);
    expect(await errorCode(res)).to.equal('payload_too_large');
  });

  it('serves a package to an agent with its own credential, and to no one else (an enrollment token only enrols)', async () => {
    expect((await upload(tgz)).status).to.equal(201);
    const byEnrollment = await download('1.2.3', 'any-agent', fusion.enrollmentToken);
    expect(byEnrollment.status).to.equal(403);
    expect(await errorCode(byEnrollment)).to.equal('credential_required');

    const client = await RawAgentClient.connect(fusion.url, 'pkg-agent', fusion.enrollmentToken);
    const welcome = await client.hello();
    client.close();
    expect(welcome.credential).to.be.a('string');
    const byCredential = await download('1.2.3', 'pkg-agent', welcome.credential);
    expect(byCredential.status).to.equal(200);
    expect(byCredential.headers.get('content-type')).to.equal('application/gzip');
    expect(byCredential.headers.get('x-package-sha256')).to.equal(createHash('sha256').update(tgz).digest('hex'));
    expect(Buffer.from(await byCredential.arrayBuffer()).equals(tgz)).to.equal(true);

    expect((await download('1.2.3', 'another-agent', welcome.credential)).status).to.equal(403);
    expect((await download('1.2.3', 'pkg-agent', 'wrong-token')).status).to.equal(401);
    expect((await download('1.2.3', 'pkg-agent', undefined)).status).to.equal(401);
    expect((await download('1.2.3', undefined, fusion.enrollmentToken)).status).to.equal(400);
    expect((await download('1.2.3', 'pkg-agent', fusion.adminToken)).status).to.equal(401);
    const unknown = await download('4.5.6', 'pkg-agent', welcome.credential);
    expect(unknown.status).to.equal(404);
    expect(await errorCode(unknown)).to.equal('not_found');
  });

  it('fills an upgrade command with the recorded sha256 and refuses a version never uploaded or a wrong hash', async () => {
    const record = (await (await upload(tgz)).json()) as PackageJson;
    const created = await command('1.2.3');
    expect(created.status).to.equal(202);
    expect(((await created.json()) as { args: unknown }).args).to.deep.equal({ version: '1.2.3', sha256: record.sha256 });
    expect((await command('1.2.3', record.sha256)).status).to.equal(202);

    const unknown = await command('0.0.9');
    expect(unknown.status).to.equal(400);
    expect(await errorCode(unknown)).to.equal('unknown_package');
    const wrong = await command('1.2.3', 'f'.repeat(64));
    expect(wrong.status).to.equal(400);
    expect(await errorCode(wrong)).to.equal('sha256_mismatch');

    const fanOut = await fusion.api('/api/v1/management/commands', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'upgrade', args: { version: '1.2.3' }, agents: ['node-a', 'node-b'] }),
    });
    expect(fanOut.status).to.equal(202);
    expect(((await fanOut.json()) as { count: number }).count).to.equal(2);
  });

  it('deletes a package: gone from the list, the download and for new upgrade commands', async () => {
    expect((await upload(tgz)).status).to.equal(201);
    expect((await fusion.api('/api/v1/management/packages/1.2.3', { method: 'DELETE' })).status).to.equal(204);
    expect(((await (await fusion.api('/api/v1/management/packages')).json()) as { packages: unknown[] }).packages).to.deep.equal([]);
    const client = await RawAgentClient.connect(fusion.url, 'pkg-agent', fusion.enrollmentToken);
    const { credential } = await client.hello();
    client.close();
    expect((await download('1.2.3', 'pkg-agent', credential)).status).to.equal(404);
    expect((await command('1.2.3')).status).to.equal(400);
    expect((await fusion.api('/api/v1/management/packages/1.2.3', { method: 'DELETE' })).status).to.equal(404);
    expect((await fusion.api('/api/v1/management/packages/..%2Fx', { method: 'DELETE' })).status).to.equal(400);
    // The same version can be uploaded again after a delete.
    expect((await upload(tgz)).status).to.equal(201);
  });
});
