import { expect } from 'chai';
import { AgentStore } from '../../server/store/agent-store.js';
import { GroupStore } from '../../server/groups/group-store.js';
import { describeOnBackends } from '../harness/test-sql.js';

describeOnBackends('agent config status: `applying` in memory, `applied` / `failed` written', (db) => {
  const hello = (agents: AgentStore, agentId: string): Promise<void> =>
    agents.recordHello({ agentId, version: '1', hostname: 'h', address: null, capabilities: [], attributes: {}, runningSignature: null, runningSource: 'none' });

  it('shows an applying agent as applying without writing it; the outcome that follows is written and replaces it', async () => {
    const agents = new AgentStore(db.sql);
    await hello(agents, 'a');
    await hello(agents, 'b');
    await agents.recordConfigStatus('a', 'sha256:old', 'failed', 'bad');
    await agents.recordConfigStatus('a', 'sha256:new', 'applying', null);
    expect(await agents.get('a')).to.include({ status: 'applying', status_signature: 'sha256:new', status_error: null });
    expect((await agents.all()).find((r) => r.agent_id === 'a')).to.include({ status: 'applying', status_signature: 'sha256:new' });
    expect(await agents.get('b')).to.include({ status: null });
    // Not in the database: a restarted Fusion shows the last written outcome.
    expect(await new AgentStore(db.sql).get('a')).to.include({ status: 'failed', status_signature: 'sha256:old', status_error: 'bad' });

    await agents.recordConfigStatus('a', 'sha256:new', 'applied', null);
    expect(agents.applyingOf('a')).to.equal(undefined);
    for (const store of [agents, new AgentStore(db.sql)]) {
      expect(await store.get('a')).to.include({ status: 'applied', status_signature: 'sha256:new', applied_signature: 'sha256:new', running_signature: 'sha256:new' });
    }
    expect(await agents.get('a')).to.include({ running_source: 'remote', status_error: null });

    // A NACK of the next config keeps what the agent runs.
    await agents.recordConfigStatus('a', 'sha256:next', 'failed', 'no');
    expect(await new AgentStore(db.sql).get('a')).to.include({
      status: 'failed',
      status_signature: 'sha256:next',
      status_error: 'no',
      applied_signature: 'sha256:new',
      running_signature: 'sha256:new',
      running_source: 'remote',
    });
  });

  it('rendering sees an applying member as applying, not as the failure written before it', async () => {
    const agents = new AgentStore(db.sql);
    const groups = new GroupStore(db.sql, (id) => agents.applyingOf(id));
    const now = Date.now();
    await groups.create({ name: 'g', description: '', revision: 1, signature: 's', created_at: now, updated_at: now, self_join: false }, {
      group_name: 'g',
      revision: 1,
      signature: 's',
      template: '{}',
      author: 'a',
      created_at: now,
      restored_from: null,
    });
    await hello(agents, 'a');
    await groups.upsertMember({ agent_id: 'a', group_name: 'g', variables: {}, override: null, assigned_by: 'admin', assigned_at: now, rendered_revision: null });
    await agents.recordConfigStatus('a', 'sha256:x', 'failed', 'bad');
    expect((await groups.membersForRender('g'))[0]).to.include({ status: 'failed', status_signature: 'sha256:x', status_error: 'bad' });
    await agents.recordConfigStatus('a', 'sha256:x', 'applying', null);
    expect((await groups.membersForRender('g'))[0]).to.include({ status: 'applying', status_signature: 'sha256:x', status_error: null });
    expect(await groups.memberForRender('a')).to.include({ status: 'applying' });
  });
});
