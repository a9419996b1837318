/**
 * `control_plane_uri` as one URL or a list: bootstrap.yaml, the comma-separated
 * `--control-plane-uri` flag and the Agent constructor, with every problem
 * named by its entry's index.
 */
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Agent } from '../../agent/agent.js';
import { BOOTSTRAP_FILE, BootstrapError, loadBootstrap, MAX_CONTROL_PLANE_URIS, resolveBootstrapOptions } from '../../agent/bootstrap.js';
import { parseAgentArgs } from '../../agent/cli-args.js';
import { tempHome } from '../harness/temp-home.js';
import { silentLogger } from './agent-fixture.js';
import { createTestPki, type TestPki } from './tls-certificates.js';

describe('agent bootstrap: control_plane_uri lists', () => {
  let home: { path: string; remove(): Promise<void> };

  beforeEach(async () => {
    home = await tempHome('agent-uris-');
  });

  afterEach(async () => {
    await home.remove();
  });

  const yaml = (text: string): Promise<void> => writeFile(path.join(home.path, BOOTSTRAP_FILE), `agent_id: nfs-01\nauth_token: tok\n${text}`);

  async function issues(promise: Promise<unknown>): Promise<string[]> {
    try {
      await promise;
    } catch (err) {
      expect(err).to.be.instanceOf(BootstrapError);
      return (err as BootstrapError).issues;
    }
    throw new Error('expected a BootstrapError');
  }

  it('reads a YAML list; the first entry stays controlPlaneUri', async () => {
    await yaml('control_plane_uri:\n  - http://fusion-a:8102\n  - wss://fusion-b/prefix\n');
    const options = await loadBootstrap(home.path);
    expect(options.controlPlaneUris).to.deep.equal(['http://fusion-a:8102', 'wss://fusion-b/prefix']);
    expect(options.controlPlaneUri).to.equal('http://fusion-a:8102');
  });

  it('reads one URL as a list of one', async () => {
    await yaml('control_plane_uri: http://fusion:8102\n');
    const options = await loadBootstrap(home.path);
    expect(options.controlPlaneUris).to.deep.equal(['http://fusion:8102']);
  });

  it('splits the --control-plane-uri flag at commas, and it wins over the file', async () => {
    await yaml('control_plane_uri: http://from-file:8102\n');
    const args = parseAgentArgs(['--control-plane-uri', 'http://a:8102, http://b:8102,http://c:8102']);
    expect(args.overrides.control_plane_uri).to.deep.equal(['http://a:8102', 'http://b:8102', 'http://c:8102']);
    const options = await loadBootstrap(home.path, args.overrides);
    expect(options.controlPlaneUris).to.deep.equal(['http://a:8102', 'http://b:8102', 'http://c:8102']);
    expect(parseAgentArgs(['--control-plane-uri', 'http://one:8102']).overrides.control_plane_uri).to.equal('http://one:8102');
  });

  it('names an invalid entry by its index, an empty flag entry included', async () => {
    await yaml('control_plane_uri: [http://a:8102, ftp://b, "not a url"]\n');
    const found = await issues(loadBootstrap(home.path));
    expect(found).to.have.length(2);
    expect(found[0]).to.match(/^control_plane_uri\[1\]: expected an http:\/\/, https:\/\/, ws:\/\/ or wss:\/\/ URL/);
    expect(found[1]).to.match(/^control_plane_uri\[2\]: expected an http/);
    const flag = await issues(loadBootstrap(home.path, parseAgentArgs(['--control-plane-uri', 'http://a:8102,,http://b:8102']).overrides));
    expect(flag).to.deep.equal(['control_plane_uri[1]: expected an http://, https://, ws:// or wss:// URL']);
  });

  it('refuses duplicates, spelled alike or not', async () => {
    await yaml('control_plane_uri: [http://fusion:8102, http://other:8102, HTTP://FUSION:8102/]\n');
    expect(await issues(loadBootstrap(home.path))).to.deep.equal(['control_plane_uri[2]: duplicate of control_plane_uri[0]']);
    await yaml('control_plane_uri: [http://fusion:80, http://fusion]\n');
    expect(await issues(loadBootstrap(home.path))).to.deep.equal(['control_plane_uri[1]: duplicate of control_plane_uri[0]']);
  });

  it(`refuses more than ${MAX_CONTROL_PLANE_URIS} URLs and an empty list`, async () => {
    const many = Array.from({ length: MAX_CONTROL_PLANE_URIS + 1 }, (_, i) => `http://fusion-${i}:8102`);
    await yaml(`control_plane_uri: [${many.join(', ')}]\n`);
    expect(await issues(loadBootstrap(home.path))).to.deep.equal([`control_plane_uri: at most ${MAX_CONTROL_PLANE_URIS} URLs (got ${MAX_CONTROL_PLANE_URIS + 1})`]);
    await yaml(`control_plane_uri: [${many.slice(0, MAX_CONTROL_PLANE_URIS).join(', ')}]\n`);
    expect((await loadBootstrap(home.path)).controlPlaneUris).to.have.length(MAX_CONTROL_PLANE_URIS);
    await yaml('control_plane_uri: []\n');
    expect(await issues(loadBootstrap(home.path))).to.deep.equal(['control_plane_uri: expected at least one URL']);
  });

  describe('with TLS files', () => {
    let pki: TestPki;
    before(async () => {
      pki = await createTestPki();
    });
    after(async () => {
      await pki.remove();
    });

    it('needs https or wss for every entry', async () => {
      const base = { agent_id: 'nfs-01', auth_token: 'tok', ca: pki.files.ca };
      const found = await issues(loadBootstrap(home.path, { ...base, control_plane_uri: ['https://a:8102', 'http://b:8102'] }));
      expect(found).to.deep.equal(['ca: needs an https:// or wss:// control_plane_uri (control_plane_uri[1] is not)']);
      const options = await loadBootstrap(home.path, { ...base, control_plane_uri: ['https://a:8102', 'wss://b:8102'] });
      expect(options.controlPlaneUris).to.deep.equal(['https://a:8102', 'wss://b:8102']);
    });
  });

  it('takes a list in the Agent constructor, and resolved options pass through unchanged', () => {
    const agent = new Agent({ home: home.path, agentId: 'nfs-01', controlPlaneUri: ['http://a:8102', 'http://b:8102'], authToken: 'tok', logger: silentLogger() });
    expect(agent.options.controlPlaneUris).to.deep.equal(['http://a:8102', 'http://b:8102']);
    expect(agent.controlPlaneTargets!.order).to.have.members(['http://a:8102', 'http://b:8102']);
    expect(agent.options.controlPlaneUris).to.include(agent.controlPlaneUri);
    const again = resolveBootstrapOptions({ ...agent.options });
    expect(again.controlPlaneUris).to.deep.equal(['http://a:8102', 'http://b:8102']);
    expect(() => new Agent({ home: home.path, agentId: 'nfs-01', controlPlaneUri: ['http://a:8102', 'http://a:8102'], authToken: 'tok' })).to.throw(
      BootstrapError,
      /control_plane_uri\[1\]: duplicate of control_plane_uri\[0\]/,
    );
  });
});
