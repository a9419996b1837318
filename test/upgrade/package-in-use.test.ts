import { expect } from 'chai';
import { eventually } from '../harness/eventually.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { placeholderPackage } from './upgrade-fixtures.js';

type ErrorJson = { error: { code: string; message: string; details?: Array<{ kind: string; id: string; status: string; agent_id?: string }> } };
interface CommandJson {
  id: string;
  status: string;
  transitions: Array<{ status: string; detail: string | null }>;
}
interface RolloutJson {
  id: string;
  status: string;
  status_reason: string | null;
  agents: Array<{ agent_id: string; command_id: string | null; status: string | null }>;
}

describe('deleting a package that pending upgrades still need', function () {
  this.timeout(20_000);
  let fusion: TestFusion;

  const upgrade = async (agentId: string): Promise<string> => {
    const res = await fusion.json('POST', `/api/v1/management/agents/${agentId}/command`, { type: 'upgrade', args: { version: '3.0.0' } });
    expect(res.status).to.equal(202);
    return (res.body as { id: string }).id;
  };
  const remove = (query = ''): Promise<Response> => fusion.api(`/api/v1/management/packages/3.0.0${query}`, { method: 'DELETE' });
  const refused = async (res: Response): Promise<ErrorJson['error']> => {
    expect(res.status).to.equal(409);
    const { error } = (await res.json()) as ErrorJson;
    expect(error.code).to.equal('package_in_use');
    return error;
  };
  const command = async (id: string): Promise<CommandJson> => (await (await fusion.api(`/api/v1/management/commands/${id}`)).json()) as CommandJson;
  const rollout = async (id: string): Promise<RolloutJson> => (await (await fusion.api(`/api/v1/management/upgrades/${id}`)).json()) as RolloutJson;

  beforeEach(async () => {
    fusion = await startFusion();
    const res = await fusion.api('/api/v1/management/packages', { method: 'POST', headers: { 'content-type': 'application/gzip' }, body: placeholderPackage('3.0.0') });
    expect(res.status).to.equal(201);
  });
  afterEach(async () => {
    await fusion.stop();
  });

  it('refuses while an upgrade naming it is queued, sent or acknowledged, and deletes it once they finished', async () => {
    const queued = await upgrade('away-1');
    const error = await refused(await remove());
    expect(error.message).to.include('package 3.0.0 is still needed by 1 upgrade command(s)');
    expect(error.details).to.deep.equal([{ kind: 'command', id: queued, agent_id: 'away-1', status: 'queued' }]);
    const audited = ((await (await fusion.api('/api/v1/management/audit?target=packages/3.0.0')).json()) as { entries: Array<Record<string, unknown>> }).entries;
    expect(audited[0]).to.include({ method: 'DELETE', status: 409, outcome: 'failure', error_code: 'package_in_use' });
    expect((await fusion.api(`/api/v1/management/commands/${queued}`, { method: 'DELETE' })).status).to.equal(200);

    const agent = await fusion.rawAgent('up-1');
    const sent = await upgrade('up-1');
    const frame = await agent.next('command');
    expect((await refused(await remove())).details).to.deep.equal([{ kind: 'command', id: sent, agent_id: 'up-1', status: 'sent' }]);
    agent.send({ type: 'command_ack', command_id: frame.command_id });
    await eventually(async () => (await command(sent)).status === 'acknowledged');
    expect((await refused(await remove())).details![0]).to.include({ id: sent, status: 'acknowledged' });
    // Another version's upgrades do not hold this one.
    expect((await fusion.api('/api/v1/management/packages', { method: 'POST', headers: { 'content-type': 'application/gzip' }, body: placeholderPackage('3.0.1') })).status).to.equal(201);
    expect((await fusion.json('POST', '/api/v1/management/agents/away-3/command', { type: 'upgrade', args: { version: '3.0.1' } })).status).to.equal(202);

    agent.send({ type: 'command_result', command_id: frame.command_id, status: 'succeeded', output: { version: '3.0.0' } });
    await eventually(async () => (await command(sent)).status === 'succeeded');
    expect((await remove()).status).to.equal(204);
    expect((await fusion.api('/api/v1/management/packages/3.0.0')).status).to.equal(404);
    expect((await fusion.api('/api/v1/management/packages/3.0.1')).status).to.equal(200);
    expect((await remove('?force=maybe')).status).to.equal(400);
  });

  it('refuses while a rollout of it is running or halted, and deletes it once the rollout is cancelled', async () => {
    const agent = await fusion.rawAgent('r-1');
    const started = (await fusion.json('POST', '/api/v1/management/upgrades', { version: '3.0.0', agents: ['r-1', 'r-2'], batch_size: 1 })).body as RolloutJson;
    const frame = await agent.next('command');
    const running = await refused(await remove());
    expect(running.message).to.include(`upgrade rollout(s) ${started.id} (running)`);
    expect(running.details![0]).to.deep.equal({ kind: 'rollout', id: started.id, status: 'running' });

    agent.send({ type: 'command_ack', command_id: frame.command_id });
    agent.send({ type: 'command_result', command_id: frame.command_id, status: 'failed', error: 'rolled back' });
    await eventually(async () => (await rollout(started.id)).status === 'halted');
    // Halted, the rollout can be resumed, so it still needs the package; no command is pending now.
    expect((await refused(await remove())).details).to.deep.equal([{ kind: 'rollout', id: started.id, status: 'halted' }]);

    expect((await fusion.api(`/api/v1/management/upgrades/${started.id}/cancel`, { method: 'POST' })).status).to.equal(200);
    expect((await remove()).status).to.equal(204);
  });

  it('with force=true halts the rollouts, cancels the commands not yet acknowledged, leaves acknowledged ones to finish, and is audited', async () => {
    const agent = await fusion.rawAgent('f-1');
    const started = (await fusion.json('POST', '/api/v1/management/upgrades', { version: '3.0.0', agents: ['f-1', 'f-2', 'f-3'], batch_size: 2 })).body as RolloutJson;
    const frame = await agent.next('command');
    agent.send({ type: 'command_ack', command_id: frame.command_id });
    await eventually(async () => (await command(frame.command_id)).status === 'acknowledged');
    const loose = await upgrade('away-2');
    const queuedInRollout = (await rollout(started.id)).agents.find((a) => a.agent_id === 'f-2')!.command_id!;

    const res = await remove('?force=true');
    expect(res.status).to.equal(200);
    const body = (await res.json()) as { version: string; cancelled_commands: string[]; running_commands: string[]; halted_rollouts: string[] };
    expect(body.version).to.equal('3.0.0');
    expect(body.cancelled_commands).to.have.members([queuedInRollout, loose]);
    expect(body.running_commands).to.deep.equal([frame.command_id]);
    expect(body.halted_rollouts).to.deep.equal([started.id]);

    expect((await fusion.api('/api/v1/management/packages/3.0.0')).status).to.equal(404);
    for (const id of [queuedInRollout, loose]) {
      const cancelled = await command(id);
      expect(cancelled.status).to.equal('cancelled');
      expect(cancelled.transitions.at(-1)).to.include({ status: 'cancelled', detail: 'package deleted' });
    }
    const halted = await rollout(started.id);
    expect(halted.status).to.equal('halted');
    expect(halted.status_reason).to.equal('package 3.0.0 was deleted; upload it again before resuming');
    expect(halted.agents.find((a) => a.agent_id === 'f-3')!.command_id).to.equal(null);

    // The acknowledged upgrade runs to its end; the rollout stays halted and starts no batch.
    agent.send({ type: 'command_result', command_id: frame.command_id, status: 'failed', error: 'download failed: 404' });
    await eventually(async () => (await command(frame.command_id)).status === 'failed');
    expect((await rollout(started.id)).status).to.equal('halted');

    const entries = ((await (await fusion.api('/api/v1/management/audit?target=packages/3.0.0')).json()) as { entries: Array<Record<string, unknown>> }).entries;
    expect(entries[0]).to.include({ method: 'DELETE', path: '/api/v1/management/packages/3.0.0', query: 'force=true', status: 200, outcome: 'success', role: 'admin' });
    expect(entries[0]!.actor).to.be.a('string').and.not.equal('');
  });

  it('never deletes a package that an upgrade command or rollout made at the same time names: the delete or the upgrade is refused', async () => {
    // The delete goes first; the upgrade follows after 0 to 9 ms, so that some rounds check the package before the delete commits and store after it.
    for (let i = 0; i < 20; i++) {
      const version = `3.1.${i}`;
      expect((await fusion.api('/api/v1/management/packages', { method: 'POST', headers: { 'content-type': 'application/gzip' }, body: placeholderPackage(version) })).status).to.equal(201);
      const start = i < 10
        ? () => fusion.json('POST', `/api/v1/management/agents/racer-${i}/command`, { type: 'upgrade', args: { version } })
        : () => fusion.json('POST', '/api/v1/management/upgrades', { version, agents: [`racer-${i}`] });
      const [deleted, started] = await Promise.all([
        fusion.api(`/api/v1/management/packages/${version}`, { method: 'DELETE' }),
        new Promise((resolve) => setTimeout(resolve, i % 10)).then(start),
      ]);
      const outcome = `${version}: delete ${deleted.status}, upgrade ${started.status} ${JSON.stringify(started.body)}`;
      if (deleted.status === 204) {
        expect([started.status, (started.body as ErrorJson).error?.code], outcome).to.deep.equal([400, 'unknown_package']);
        const commands = ((await fusion.json('GET', `/api/v1/management/commands?agent_id=racer-${i}`)).body as { commands: unknown[] }).commands;
        expect(commands, `${outcome}: no command stored`).to.deep.equal([]);
      } else {
        expect(deleted.status, outcome).to.equal(409);
        expect(((await deleted.json()) as ErrorJson).error.code, outcome).to.equal('package_in_use');
        expect(started.status, outcome).to.be.oneOf([201, 202]);
      }
    }
  });
});
