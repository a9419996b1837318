import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Agent } from '../../agent/agent.js';
import { BootstrapError, describeBootstrap, loadBootstrap, resolveHome } from '../../agent/bootstrap.js';
import { parseAgentArgs } from '../../agent/cli-args.js';
import { tempHome } from '../harness/temp-home.js';
import { fastAgent, memoryLogger } from './agent-fixture.js';
import { FusionPeer } from './fusion-peer.js';

describe('agent bootstrap options', () => {
  let home: { path: string; remove(): Promise<void> };

  beforeEach(async () => {
    home = await tempHome('agent-boot-');
  });
  afterEach(async () => {
    await home.remove();
  });

  async function bootstrapYaml(text: string): Promise<void> {
    await writeFile(path.join(home.path, 'bootstrap.yaml'), text);
  }

  async function failure(promise: Promise<unknown>): Promise<BootstrapError> {
    try {
      await promise;
    } catch (err) {
      expect(err).to.be.instanceOf(BootstrapError);
      return err as BootstrapError;
    }
    throw new Error('expected a BootstrapError');
  }

  it('reads bootstrap.yaml and fills the defaults', async () => {
    await bootstrapYaml('agent_id: nfs-01\ncontrol_plane_uri: http://fusion:8102\nauth_token: s3cret\n');
    expect(await loadBootstrap(home.path)).to.deep.equal({
      home: home.path,
      agentId: 'nfs-01',
      controlPlaneUri: 'http://fusion:8102',
      controlPlaneUris: ['http://fusion:8102'],
      authToken: 's3cret',
      transport: 'websocket',
      pollIntervalSec: 30,
      backoff: { baseMs: 500, capMs: 30_000, stableAfterMs: 10_000 },
      connectTimeoutMs: 5_000,
    });
  });

  it('lets command-line flags override the file, key by key', async () => {
    await bootstrapYaml(
      'agent_id: nfs-01\ncontrol_plane_uri: http://fusion:8102\nauth_token: from-file\ntransport: websocket\nbackoff: { base_ms: 100, cap_ms: 1000 }\nhostname: a\ngroup: g1\n',
    );
    const args = parseAgentArgs([
      '--agent-id',
      'nfs-02',
      '--auth-token',
      'from-flag',
      '--transport',
      'poll',
      '--poll-interval-sec',
      '5',
      '--backoff-cap-ms',
      '2000',
      '--connect-timeout-ms',
      '750',
    ]);
    const options = await loadBootstrap(home.path, args.overrides);
    expect(options).to.deep.include({
      agentId: 'nfs-02',
      authToken: 'from-flag',
      controlPlaneUri: 'http://fusion:8102',
      transport: 'poll',
      pollIntervalSec: 5,
      connectTimeoutMs: 750,
      hostname: 'a',
      group: 'g1',
    });
    expect(options.backoff).to.deep.equal({ baseMs: 100, capMs: 2000, stableAfterMs: 10_000 });
  });

  it('works from flags alone when there is no bootstrap.yaml', async () => {
    const args = parseAgentArgs(['--agent-id', 'solo']);
    const options = await loadBootstrap(home.path, args.overrides);
    expect(options).to.include({ agentId: 'solo', transport: 'websocket' });
    expect(options.controlPlaneUri).to.equal(undefined);
  });

  it('reports every problem at once, each with its key', async () => {
    await bootstrapYaml(
      'control_plane_uri: ftp://fusion\ntransport: carrier-pigeon\nbackoff: { base_ms: 1000, cap_ms: 10 }\npoll_interval_sec: -1\ncolour: blue\n',
    );
    const err = await failure(loadBootstrap(home.path));
    const text = err.issues.join('\n');
    expect(err.code).to.equal('bootstrap_invalid');
    expect(text).to.match(/^agent_id: .*--agent-id/m);
    expect(text).to.match(/^control_plane_uri: expected an http/m);
    expect(text).to.match(/^transport: /m);
    expect(text).to.match(/^poll_interval_sec: /m);
    expect(text).to.match(/^\(root\): .*colour/m);
    expect(err.message).to.include(path.join(home.path, 'bootstrap.yaml'));

    await bootstrapYaml('agent_id: a\ncontrol_plane_uri: http://fusion\nbackoff: { base_ms: 1000, cap_ms: 10 }\n');
    const second = await failure(loadBootstrap(home.path));
    expect(second.issues).to.have.length(2);
    expect(second.issues[0]).to.match(/^auth_token: required when control_plane_uri is set/);
    expect(second.issues[1]).to.equal('backoff.cap_ms: must be at least backoff.base_ms');
  });

  it('names the file when it is not YAML or not a mapping', async () => {
    await bootstrapYaml('agent_id: [unclosed\n');
    expect((await failure(loadBootstrap(home.path))).message).to.include(`cannot parse ${path.join(home.path, 'bootstrap.yaml')}`);
    await bootstrapYaml('- just\n- a list\n');
    expect((await failure(loadBootstrap(home.path))).issues).to.deep.equal(['(root): expected a mapping of options']);
  });

  it('refuses unknown flags and non-numeric numbers', () => {
    expect(() => parseAgentArgs(['--agent-idd', 'x'])).to.throw(BootstrapError, /--agent-idd/);
    try {
      parseAgentArgs(['--poll-interval-sec', 'soon', '--backoff-base-ms', '']);
      expect.fail('expected a BootstrapError');
    } catch (err) {
      expect((err as BootstrapError).issues).to.deep.equal([
        '--poll-interval-sec: expected a number, got "soon"',
        '--backoff-base-ms: expected a number, got ""',
      ]);
    }
    expect(parseAgentArgs(['-h']).help).to.equal(true);
  });

  it('finds the home in --home, then $FUSTOR_HOME, then ~/.fustor', () => {
    expect(resolveHome('/opt/a', { FUSTOR_HOME: '/opt/b' })).to.equal('/opt/a');
    expect(resolveHome(undefined, { FUSTOR_HOME: '/opt/b' })).to.equal('/opt/b');
    expect(resolveHome(undefined, {})).to.equal(path.join(os.homedir(), '.fustor'));
  });

  it('validates options given to the Agent constructor', () => {
    expect(() => new Agent({ home: home.path, agentId: 'ok', controlPlaneUri: 'http://fusion' })).to.throw(BootstrapError, /auth_token/);
    expect(() => new Agent({ home: home.path, agentId: '../etc' })).to.throw(BootstrapError, /agent_id/);
  });

  it('never logs the auth token', async () => {
    const secret = 'tok-that-must-not-appear-0123456789';
    expect(JSON.stringify(describeBootstrap({ ...(await loadBootstrap(home.path, { agent_id: 'a', control_plane_uri: 'http://f', auth_token: secret })) }))).not.to.include(secret);
    const peer = await FusionPeer.start({ token: 'another-token' });
    const { logger, lines } = memoryLogger('trace');
    const agent = fastAgent(home.path, { controlPlaneUri: peer.url, authToken: secret, logger });
    try {
      await agent.start();
      expect(lines.length).to.be.greaterThan(2);
      expect(JSON.stringify(lines)).not.to.include(secret);
    } finally {
      await agent.stop();
      await peer.stop();
    }
  });

  it('pins a package signing key from a file (relative to the home) or inline PEM, and refuses one that is not Ed25519', async () => {
    const { generateSigningKeyPair } = await import('../../shared/package/package-signature.js');
    const { generateKeyPairSync } = await import('node:crypto');
    const { publicKeyPem } = generateSigningKeyPair();
    await writeFile(path.join(home.path, 'signing.pub'), publicKeyPem);
    await bootstrapYaml('agent_id: a\npackage_public_key: signing.pub\n');
    expect((await loadBootstrap(home.path)).packagePublicKey).to.equal(publicKeyPem);
    expect((await loadBootstrap(home.path, { package_public_key: publicKeyPem })).packagePublicKey).to.equal(publicKeyPem);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const refused = await failure(loadBootstrap(home.path, { package_public_key: rsa }));
    expect(refused.message).to.contain('package_public_key').and.contain('not Ed25519');
    const missing = await failure(loadBootstrap(home.path, { package_public_key: 'no-such.pub' }));
    expect(missing.message).to.contain('ENOENT');
  });
});
