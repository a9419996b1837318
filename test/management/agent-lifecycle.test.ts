import { expect } from 'chai';
import { CloseCode } from '../../shared/protocol/index.js';
import { eventually, sampleConfig, startFusion, type TestFusion } from '../harness/index.js';
import { fustorctl } from '../cli/cli-harness.js';

/** 1e-5 days is under a second: old enough for these tests. */
const BRIEF = 1e-5;

describe('agent lifecycle: decommission and retention', function () {
  let fusion: TestFusion;
  afterEach(() => fusion?.stop());

  it('decommissions an agent: revoked, disconnected, its open commands cancelled, forgotten; the audit log keeps the trail', async () => {
    fusion = await startFusion();
    await fusion.json('POST', '/api/v1/control/configs/old-1', sampleConfig({ pipes: 0 }));
    const agent = await fusion.rawAgent('old-1');
    await agent.next('config');
    const queued = await fusion.json('POST', '/api/v1/management/agents/old-1/command', { type: 'report_config' });
    await agent.next('command');
    await fusion.json('PUT', '/api/v1/management/agents/old-1/labels', { labels: { env: 'prod' } });

    const gone = await fusion.json('DELETE', '/api/v1/management/agents/old-1');
    expect(gone.status).to.equal(200);
    expect(gone.body).to.deep.include({ agent_id: 'old-1', revoked_credentials: 1, disconnected: true, cancelled_commands: 1, left_group: null });
    expect(gone.body.forgotten).to.deep.equal({ config_revisions: 1, reports: 0 });
    expect(await agent.closed()).to.equal(CloseCode.Revoked);

    expect((await fusion.json('GET', '/api/v1/management/agents/old-1')).status).to.equal(404);
    expect((await fusion.json('GET', '/api/v1/management/agents')).body.agents).to.deep.equal([]);
    expect((await fusion.json('GET', `/api/v1/management/commands/${queued.body.id}`)).body.status).to.equal('cancelled');
    expect((await fusion.json('DELETE', '/api/v1/management/agents/old-1')).status).to.equal(404);
    const audit = await fusion.json('GET', '/api/v1/management/audit');
    expect(audit.body.entries.some((e: { method: string; path: string; status: number }) => e.method === 'DELETE' && e.path === '/api/v1/management/agents/old-1' && e.status === 200)).to.equal(true);
  });

  it('sweeps finished commands, old audit entries and old config revisions, keeping the newest per agent', async () => {
    fusion = await startFusion({ retention: { commandsDays: BRIEF, auditDays: BRIEF, revisionsDays: BRIEF, revisionsKeep: 2 }, retentionSweepIntervalMs: 100 });
    for (let i = 1; i <= 5; i++) await fusion.json('POST', '/api/v1/control/configs/kept', sampleConfig({ pipes: i % 3 }));
    const agent = await fusion.rawAgent('kept');
    const command = await fusion.json('POST', '/api/v1/management/agents/kept/command', { type: 'reload_config' });
    const frame = await agent.next('command');
    agent.send({ type: 'command_ack', command_id: frame.command_id });
    agent.send({ type: 'command_result', command_id: frame.command_id, status: 'succeeded', output: {} });
    await eventually(async () => (await fusion.json('GET', `/api/v1/management/commands/${command.body.id}`)).body.status === 'succeeded');

    await eventually(async () => (await fusion.json('GET', `/api/v1/management/commands/${command.body.id}`)).status === 404, { timeoutMs: 5000 });
    const history = await eventually(async () => {
      const { body } = await fusion.json('GET', '/api/v1/control/configs/kept/history');
      return body.revisions?.length === 2 && body.revisions;
    }, { timeoutMs: 5000 });
    expect(history.map((r: { revision: number }) => r.revision)).to.deep.equal([5, 4]);
    // Audit entries older than the window go too (the reads below are not audited; the saves were).
    await eventually(async () => (await fusion.json('GET', '/api/v1/management/audit')).body.entries.length === 0, { timeoutMs: 5000 });
  });

  it('fustorctl decommissions an agent', async () => {
    fusion = await startFusion();
    await fusion.rawAgent('old-2');
    const run = await fustorctl(['decommission', 'old-2'], { url: fusion.url, token: fusion.adminToken });
    expect(run.status, run.stderr).to.equal(0);
    expect(run.stdout).to.match(/^old-2 decommissioned: 1 credential\(s\) revoked, disconnected/);
    expect((await fusion.json('GET', '/api/v1/management/agents/old-2')).status).to.equal(404);
  });
});
