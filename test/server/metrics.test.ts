import { expect } from 'chai';
import { eventually } from '../harness/eventually.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { RawAgentClient } from '../harness/raw-client.js';
import { testDatabaseBackend } from '../harness/test-database.js';

describe('Fusion metrics', () => {
  let fusion: TestFusion;
  beforeEach(async () => {
    fusion = await startFusion();
  });
  afterEach(async () => {
    await fusion.stop();
  });

  it('serves Prometheus text to a viewer: connected agents, frames by type, commands by status', async () => {
    expect((await fetch(`${fusion.url}/metrics`)).status).to.equal(401);
    const agent = await RawAgentClient.connectAs(fusion.url, 'node-1', fusion.enrollmentToken);
    try {
      await agent.hello();
      await fusion.api('/api/v1/management/agents/node-2/command', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":"report_config"}' });
      const text = await eventually(async () => {
        const res = await fusion.api('/metrics');
        expect(res.headers.get('content-type')).to.match(/text\/plain/);
        const body = await res.text();
        return /^fusion_agents_connected 1$/m.test(body) ? body : undefined;
      });
      expect(text).to.match(/^fusion_agents_known 1$/m);
      expect(text).to.match(/^fusion_agent_frames_total\{type="hello"\} 1$/m);
      expect(text).to.match(/^fusion_commands\{status="queued"\} 1$/m);
      expect(text).to.match(/^fusion_process_resident_memory_bytes \d+/m);
      expect(text).to.match(/^fusion_agents_by_status\{status="online"\} 1$/m);
      expect(text).to.match(/^fusion_agents_by_health\{health="healthy"\} 1$/m);
      expect(text).to.match(/^fusion_agents_drifting 0$/m);
      expect(text).to.match(/^fusion_agents_config_failed 0$/m);
      // The write-ahead log's checkpoint thread exists on SQLite only.
      if (testDatabaseBackend() === 'sqlite') expect(text).to.match(/^fusion_sqlite_checkpoint_thread_up 1$/m);
      else expect(text).not.to.match(/fusion_sqlite_checkpoint/);
    } finally {
      agent.terminate();
    }
  });
});
