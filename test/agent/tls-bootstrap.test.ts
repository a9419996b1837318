import { expect } from 'chai';
import { copyFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Agent } from '../../agent/agent.js';
import { BootstrapError, describeBootstrap, loadBootstrap } from '../../agent/bootstrap.js';
import { parseAgentArgs } from '../../agent/cli-args.js';
import { tempHome } from '../harness/temp-home.js';
import { createTestPki, type TestPki } from './tls-certificates.js';

describe('agent TLS options', () => {
  let pki: TestPki;
  let home: { path: string; remove(): Promise<void> };

  before(async () => {
    pki = await createTestPki();
  });
  after(async () => {
    await pki.remove();
  });
  beforeEach(async () => {
    home = await tempHome('agent-tls-boot-');
  });
  afterEach(async () => {
    await home.remove();
  });

  async function failure(promise: Promise<unknown>): Promise<BootstrapError> {
    try {
      await promise;
    } catch (err) {
      expect(err).to.be.instanceOf(BootstrapError);
      return err as BootstrapError;
    }
    throw new Error('expected a BootstrapError');
  }

  const base = { agent_id: 'nfs-01', control_plane_uri: 'https://fusion:8102', auth_token: 'tok' };

  it('reads ca, cert and key from bootstrap.yaml, relative to the home, and keeps the key out of the description', async () => {
    await copyFile(pki.files.ca, path.join(home.path, 'ca.pem'));
    await writeFile(
      path.join(home.path, 'bootstrap.yaml'),
      `agent_id: nfs-01\ncontrol_plane_uri: https://fusion:8102\nauth_token: tok\nca: ca.pem\ncert: ${pki.files.clientCert}\nkey: ${pki.files.clientKey}\n`,
    );
    const options = await loadBootstrap(home.path);
    expect(options).to.include({ caFile: path.join(home.path, 'ca.pem'), certFile: pki.files.clientCert, keyFile: pki.files.clientKey });
    expect(options.tls!.ca).to.equal(pki.pem.ca);
    expect(options.tls!.cert).to.match(/^-----BEGIN CERTIFICATE-----/);
    expect(options.tls!.key).to.match(/PRIVATE KEY-----/);
    const described = JSON.stringify(describeBootstrap(options));
    expect(described).to.include('ca.pem').and.not.include('PRIVATE KEY').and.not.include('BEGIN CERTIFICATE');
  });

  it('takes --ca, --cert and --key, relative to the working directory', async () => {
    const relative = path.relative(process.cwd(), pki.files.ca);
    const args = parseAgentArgs(['--ca', relative, '--cert', pki.files.clientCert, '--key', pki.files.clientKey]);
    expect(args.overrides).to.include({ ca: pki.files.ca, cert: pki.files.clientCert, key: pki.files.clientKey });
    const options = await loadBootstrap(home.path, { ...args.overrides, ...base });
    expect(options.tls).to.have.keys('ca', 'cert', 'key');
  });

  it('names every unreadable or unusable file', async () => {
    const missing = path.join(home.path, 'missing.pem');
    const notPem = path.join(home.path, 'not.pem');
    await writeFile(notPem, 'hello');
    const err = await failure(loadBootstrap(home.path, { ...base, ca: missing, cert: notPem, key: notPem }));
    expect(err.message).to.include('TLS files');
    expect(err.issues).to.have.length(3);
    expect(err.issues[0]).to.match(/^ca: cannot read .*missing\.pem: ENOENT/);
    expect(err.issues[1]).to.match(/^cert: .*not\.pem is not a PEM certificate/);
    expect(err.issues[2]).to.match(/^key: .*not\.pem is not an unencrypted PEM private key/);
  });

  it('refuses a key that is not the certificate\'s, a cert without a key, and TLS files with a plain http URL', async () => {
    const mismatch = await failure(loadBootstrap(home.path, { ...base, cert: pki.files.clientCert, key: pki.files.serverKey }));
    expect(mismatch.issues).to.deep.equal([`key: ${pki.files.serverKey} is not the private key of the certificate in ${pki.files.clientCert}`]);
    const alone = await failure(loadBootstrap(home.path, { ...base, cert: pki.files.clientCert }));
    expect(alone.issues.join('\n')).to.match(/key: cert and key go together/);
    const plain = await failure(loadBootstrap(home.path, { ...base, control_plane_uri: 'http://fusion:8102', ca: pki.files.ca }));
    expect(plain.issues.join('\n')).to.match(/ca: needs an https:\/\/ or wss:\/\/ control_plane_uri/);
  });

  it('checks the files when an Agent is constructed with them', () => {
    const options = { home: home.path, agentId: 'nfs-01', controlPlaneUri: 'wss://fusion', authToken: 'tok' };
    expect(() => new Agent({ ...options, caFile: path.join(home.path, 'nope.pem') })).to.throw(BootstrapError, /ca: cannot read/);
    expect(new Agent({ ...options, caFile: pki.files.ca }).options.tls).to.deep.equal({ ca: pki.pem.ca });
  });
});
