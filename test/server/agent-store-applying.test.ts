import { expect } from 'chai';
import type { Db } from '../../server/store/database.js';
import { AgentStore } from '../../server/store/agent-store.js';
import { tempDatabase, type TempDatabase } from './temp-database.js';

describe('agent config status: `applying` in memory, `applied` / `failed` written', () => {
  let temp: TempDatabase;
  let db: Db;

  beforeEach(async () => {
    temp = await tempDatabase('agent-status-');
    db = temp.db;
  });

  afterEach(async () => {
    await temp.remove();
  });

  const hello = (agents: AgentStore, agentId: string): void =>
    agents.recordHello({ agentId, version: '1', hostname: 'h', address: null, capabilities: [], attributes: {}, runningSignature: null, runningSource: 'none' });

  it('shows an applying agent as applying without writing it; the outcome that follows is written and replaces it', () => {
    const agents = new AgentStore(db);
    hello(agents, 'a');
    hello(agents, 'b');
    agents.recordConfigStatus('a', 'sha256:old', 'failed', 'bad');
    agents.recordConfigStatus('a', 'sha256:new', 'applying', null);
    expect(agents.get('a')).to.include({ status: 'applying', status_signature: 'sha256:new', status_error: null });
    expect(agents.all().find((r) => r.agent_id === 'a')).to.include({ status: 'applying', status_signature: 'sha256:new' });
    expect(agents.get('b')).to.include({ status: null });
    // Not in the database: a restarted Fusion shows the last written outcome.
    expect(new AgentStore(db).get('a')).to.include({ status: 'failed', status_signature: 'sha256:old', status_error: 'bad' });

    agents.recordConfigStatus('a', 'sha256:new', 'applied', null);
    expect(agents.applyingOf('a')).to.equal(undefined);
    for (const store of [agents, new AgentStore(db)]) {
      expect(store.get('a')).to.include({ status: 'applied', status_signature: 'sha256:new', applied_signature: 'sha256:new', running_signature: 'sha256:new' });
    }
    expect(agents.get('a')).to.include({ running_source: 'remote', status_error: null });

    // A NACK of the next config keeps what the agent runs.
    agents.recordConfigStatus('a', 'sha256:next', 'failed', 'no');
    expect(new AgentStore(db).get('a')).to.include({
      status: 'failed',
      status_signature: 'sha256:next',
      status_error: 'no',
      applied_signature: 'sha256:new',
      running_signature: 'sha256:new',
      running_source: 'remote',
    });
  });
});
