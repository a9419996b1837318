import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateSigningKeyPair, signPackage, signingKey } from '../../shared/package/package-signature.js';
import { eventually } from '../harness/eventually.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { tempHome } from '../harness/temp-home.js';
import { buildAgentPackage } from '../../scripts/agent-package-builder.js';
import { LauncherProcess, placeholderPackage, repositoryVersion } from './upgrade-fixtures.js';

interface CommandJson {
  id: string;
  status: string;
  args: { version: string; sha256?: string; signature?: string };
  error: string | null;
}

describe('signed agent packages', function () {
  this.timeout(90_000); // real agent processes under the launcher
  let fusion: TestFusion;
  let dir: { path: string; remove(): Promise<void> };
  let launcher: LauncherProcess | undefined;
  const pinned = generateSigningKeyPair();
  const other = generateSigningKeyPair();

  const upload = async (body: Buffer, signature?: string): Promise<{ status: number; body: any }> => {
    const res = await fusion.api('/api/v1/management/packages', {
      method: 'POST',
      headers: { 'content-type': 'application/gzip', ...(signature !== undefined && { 'x-package-signature': signature }) },
      body,
    });
    return { status: res.status, body: await res.json() };
  };
  const upgrade = async (id: string, version: string): Promise<CommandJson> => {
    const res = await fusion.json('POST', `/api/v1/management/agents/${id}/command`, { type: 'upgrade', args: { version } });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    return res.body as CommandJson;
  };
  const finished = (id: string): Promise<CommandJson> =>
    eventually(
      async () => {
        const command = (await fusion.json('GET', `/api/v1/management/commands/${id}?wait=5`)).body as CommandJson;
        return ['succeeded', 'failed', 'expired'].includes(command.status) ? command : undefined;
      },
      { timeoutMs: 45_000, message: `command ${id} finishes` },
    );
  const onlineAt = (id: string, version: string) =>
    eventually(
      async () => {
        const view = (await fusion.json('GET', `/api/v1/management/agents/${id}`)).body as { online: boolean; version: string | null };
        return view.online && view.version === version ? view : undefined;
      },
      { timeoutMs: 30_000, message: `${id} online with version ${version}` },
    );

  before(async () => {
    fusion = await startFusion();
    dir = await tempHome('signed-packages-');
  });
  after(async () => {
    await launcher?.stop();
    await fusion?.stop();
    await dir?.remove();
  });

  it('stores the signature an upload carries and puts it in the upgrade command; refuses a malformed one', async () => {
    const bad = await upload(placeholderPackage('0.8.1'), 'not-a-signature');
    expect(bad.status).to.equal(400);
    expect(bad.body.error.code).to.equal('invalid_signature');
    const signature = signPackage(placeholderPackage('0.8.1'), signingKey(pinned.privateKeyPem));
    const ok = await upload(placeholderPackage('0.8.1'), signature);
    expect(ok.status).to.equal(201);
    expect(ok.body).to.include({ version: '0.8.1', signature });
    const unsigned = await upload(placeholderPackage('0.8.2'));
    expect(unsigned.body).to.include({ version: '0.8.2', signature: null });
    await fusion.json('POST', '/api/v1/management/agents/offline-1/config/structured', { sources: {}, senders: {}, pipes: {} });
    const command = await upgrade('offline-1', '0.8.1');
    expect(command.args).to.include({ version: '0.8.1', signature });
    expect((await upgrade('offline-1', '0.8.2')).args).to.not.have.property('signature');
  });

  it('a Fusion given the public key takes only uploads signed with it', async () => {
    const strict = await startFusion({ packagePublicKey: pinned.publicKeyPem });
    try {
      const post = async (body: Buffer, signature?: string) => {
        const res = await strict.api('/api/v1/management/packages', {
          method: 'POST',
          headers: { 'content-type': 'application/gzip', ...(signature !== undefined && { 'x-package-signature': signature }) },
          body,
        });
        return { status: res.status, body: (await res.json()) as any };
      };
      const archive = placeholderPackage('0.7.1');
      const missing = await post(archive);
      expect(missing.status).to.equal(400);
      expect(missing.body.error.code).to.equal('signature_required');
      const wrong = await post(archive, signPackage(archive, signingKey(other.privateKeyPem)));
      expect(wrong.body.error).to.include({ code: 'invalid_signature' });
      expect(wrong.body.error.message).to.match(/does not verify with ed25519:[0-9a-f]{16}/);
      expect((await post(archive, signPackage(archive, signingKey(pinned.privateKeyPem)))).status).to.equal(201);
    } finally {
      await strict.stop();
    }
  });

  it('an agent that pins the key refuses an unsigned package and one signed by another key, and installs one signed by its key', async () => {
    const keyFile = path.join(dir.path, 'fustor-package.pub');
    await writeFile(keyFile, pinned.publicKeyPem);
    // The refused packages are never unpacked: placeholders do. The one installed is a real build, signed as the script signs.
    const wrong = placeholderPackage('0.9.22');
    expect((await upload(placeholderPackage('0.9.21'))).status).to.equal(201);
    expect((await upload(wrong, signPackage(wrong, signingKey(other.privateKeyPem)))).status).to.equal(201);
    const good = await buildAgentPackage({ outDir: dir.path, version: '0.9.23', signKey: signingKey(pinned.privateKeyPem) });
    expect(good.signature).to.equal((await readFile(`${good.file}.sig`, 'utf8')).trim());
    expect((await upload(await readFile(good.file), good.signature)).status).to.equal(201);

    const home = await tempHome('signed-agent-');
    try {
      launcher = LauncherProcess.start([
        '--home', home.path,
        '--agent-id', 'signed-1',
        '--control-plane-uri', fusion.url,
        '--auth-token', fusion.enrollmentToken,
        '--connect-timeout-ms', '500',
        '--backoff-base-ms', '50',
        '--backoff-cap-ms', '500',
        '--package-public-key', keyFile,
      ]);
      const builtin = await repositoryVersion();
      await onlineAt('signed-1', builtin);

      const missing = await finished((await upgrade('signed-1', '0.9.21')).id);
      expect(missing.status).to.equal('failed');
      expect(missing.error).to.contain('uploaded without a signature').and.contain('not installed');
      const refused = await finished((await upgrade('signed-1', '0.9.22')).id);
      expect(refused.status).to.equal('failed');
      expect(refused.error).to.contain('is not signed by the pinned key').and.contain('not installed');
      expect(launcher.agentPids()).to.have.length(1);

      const installed = await finished((await upgrade('signed-1', '0.9.23')).id);
      expect(installed.status, installed.error ?? '').to.equal('succeeded');
      await onlineAt('signed-1', '0.9.23');
    } finally {
      await launcher?.stop();
      launcher = undefined;
      await home.remove();
    }
  });
});
