import { expect } from 'chai';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually, sampleConfig, startAgent, startFusion, tempHome, type TestFusion } from '../harness/index.js';
import { fustorctl } from '../cli/cli-harness.js';

const DATA_KEY = 'data-key-that-must-not-leave-the-agent';

describe('diagnostics bundles', function () {
  let fusion: TestFusion;
  before(async () => {
    fusion = await startFusion();
  });
  after(() => fusion.stop());

  it('collects a bounded bundle from a real agent, stores it apart and serves it for download; fustorctl saves it', async () => {
    const root = await tempHome('diag-root-');
    await mkdir(join(root.path, 'data-0'));
    await fusion.json('POST', '/api/v1/control/configs/diag-1', sampleConfig({ pipes: 1, root: root.path, apiKey: DATA_KEY, fusionUrl: fusion.url }));
    const agent = await startAgent(fusion, { agentId: 'diag-1' });
    try {
      await eventually(async () => (await fusion.json('GET', '/api/v1/management/agents/diag-1')).body.config.status === 'applied');
      const sent = await fusion.json('POST', '/api/v1/management/agents/diag-1/command', { type: 'diagnostics', args: { log_lines: 50 } });
      expect(sent.status).to.equal(202);
      const done = await eventually(async () => {
        const { body } = await fusion.json('GET', `/api/v1/management/commands/${sent.body.id}`);
        return body.status === 'succeeded' && body;
      });
      expect(done.output.download).to.equal(`/api/v1/management/diagnostics/${sent.body.id}`);
      expect(done.output.bytes).to.be.greaterThan(100);

      const res = await fusion.api(done.output.download);
      expect(res.headers.get('content-disposition')).to.match(/attachment; filename="diagnostics-diag-1-/);
      const text = await res.text();
      expect(text).to.not.include(DATA_KEY);
      const bundle = JSON.parse(text);
      expect(bundle).to.include({ agent_id: 'diag-1' });
      expect(bundle.versions.node).to.equal(process.version);
      expect(bundle.host).to.include.keys('hostname', 'os', 'arch', 'cpus', 'memory_bytes');
      expect(bundle.config.source).to.equal('remote');
      expect(JSON.stringify(bundle.config.document)).to.include('[redacted]');
      expect(bundle.pipes).to.be.an('array').with.length(1);
      expect(bundle.log_tail).to.be.an('array');

      const listed = await fusion.json('GET', '/api/v1/management/agents/diag-1/diagnostics');
      expect(listed.body.bundles.map((b: { command_id: string }) => b.command_id)).to.deep.equal([sent.body.id]);

      const dir = await tempHome('diag-out-');
      try {
        const out = join(dir.path, 'bundle.json');
        const run = await fustorctl(['diagnostics', 'diag-1', '--out', out], { url: fusion.url, token: fusion.adminToken });
        expect(run.status, run.stderr).to.equal(0);
        expect(run.stdout).to.match(/^diag-1: \d+ bytes of diagnostics saved to /);
        expect(JSON.parse(await readFile(out, 'utf8')).agent_id).to.equal('diag-1');
        expect((await stat(out)).mode & 0o777).to.equal(0o600);
      } finally {
        await dir.remove();
      }
    } finally {
      await agent.stop();
      await root.remove();
    }
  });

  it('refuses a bundle to a viewer and answers 404 for an unknown one', async () => {
    const viewer = (await fusion.json('POST', '/api/v1/management/admin-tokens', { name: 'v', role: 'viewer' })).body.secret;
    const res = await fetch(`${fusion.url}/api/v1/management/agents/diag-1/diagnostics`, { headers: { authorization: `Bearer ${viewer}` } });
    expect(res.status).to.equal(403);
    expect((await fusion.json('GET', '/api/v1/management/diagnostics/nope')).status).to.equal(404);
  });
});
