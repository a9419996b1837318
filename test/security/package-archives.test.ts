import { expect } from 'chai';
import { AGENT_BUNDLE } from '../../shared/package/agent-package.js';
import { readTarGzStreamed, TarError, writeTarGz, type TarEntry } from '../../shared/package/tar.js';
import { startFusion, type TestFusion } from '../harness/index.js';

const file = (path: string, data: string | Buffer): TarEntry => ({ type: 'file', path, mode: 0o644, data: Buffer.from(data) });
const manifest = file('package/package.json', JSON.stringify({ name: 'fustor-agent', version: '9.9.9' }));
const bundle = file(`package/${AGENT_BUNDLE}`, '// agent');

describe('security: hostile agent packages', () => {
  let fusion: TestFusion;

  before(async () => {
    fusion = await startFusion({ maxUnpackedPackageBytes: 1024 * 1024 });
  });
  after(() => fusion.stop());

  const upload = async (body: Buffer): Promise<{ status: number; error: { code: string; message: string } }> => {
    const res = await fusion.api('/api/v1/management/packages', { method: 'POST', headers: { 'content-type': 'application/gzip' }, body });
    const json = (await res.json()) as { error: { code: string; message: string } };
    return { status: res.status, error: json.error };
  };

  it('refuses a gzip bomb as soon as it unpacks past the limit, storing nothing', async () => {
    const bomb = writeTarGz([manifest, bundle, file('package/zeros.bin', Buffer.alloc(32 * 1024 * 1024))]);
    expect(bomb.length).to.be.lessThan(64 * 1024);
    const res = await upload(bomb);
    expect(res.status).to.equal(400);
    expect(res.error.code).to.equal('invalid_package');
    expect(res.error.message).to.match(/unpacks to more than/);
    expect(((await (await fusion.api('/api/v1/management/packages')).json()) as { packages: unknown[] }).packages).to.deep.equal([]);
  });

  it('refuses a package where a path is both a file and a directory, or a file appears twice', async () => {
    const clash = await upload(writeTarGz([manifest, file('package/dist', 'i am a file'), bundle]));
    expect(clash.status).to.equal(400);
    expect(clash.error.message).to.match(/inside "package\/dist", which is a file/);
    const reverse = await upload(writeTarGz([manifest, bundle, file('package/dist', 'i am a file')]));
    expect(reverse.status).to.equal(400);
    expect(reverse.error.message).to.match(/also a directory/);
    const twice = await upload(writeTarGz([manifest, bundle, bundle]));
    expect(twice.status).to.equal(400);
    expect(twice.error.message).to.match(/appears twice/);
    expect((await upload(writeTarGz([manifest, bundle]))).status, 'the same package without the clash').to.equal(201);
  });

  it('stops unpacking a stream at the limit', async () => {
    const archive = writeTarGz([file('big', Buffer.alloc(8 * 1024 * 1024))]);
    const failure = await readTarGzStreamed(archive, { maxBytes: 64 * 1024 }).catch((e: unknown) => e);
    expect(failure).to.be.instanceOf(TarError);
    expect((await readTarGzStreamed(archive, { maxBytes: 9 * 1024 * 1024 }))[0]!.path).to.equal('big');
  });
});
