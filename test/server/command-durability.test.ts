import { expect } from 'chai';
import { FusionProcess } from '../harness/fusion-process.js';
import { RawAgentClient } from '../harness/raw-client.js';

describe('Fusion commands across a crash (kill -9)', function () {
  this.timeout(60_000);
  let fusion: FusionProcess;
  const clients: RawAgentClient[] = [];

  before(async () => {
    fusion = await FusionProcess.start();
  });
  after(async () => {
    for (const c of clients.splice(0)) c.terminate();
    await fusion.stop();
  });

  it('loses no queued or sent-but-unanswered command and redelivers both, in order', async () => {
    const post = async (agentId: string, type: string): Promise<string> => {
      const res = await fusion.api(`/api/v1/management/agents/${agentId}/command`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type }),
      });
      expect(res.status).to.equal(202);
      return ((await res.json()) as { id: string }).id;
    };
    const first = await RawAgentClient.connectAs(fusion.url, 'node-1', fusion.enrollmentToken);
    clients.push(first);
    await first.hello();
    const sent = await post('node-1', 'report_config');
    expect((await first.next('command')).command_id).to.equal(sent);
    first.send({ type: 'command_ack', command_id: sent });
    first.terminate();
    const queued = await post('node-1', 'reload_config');

    await fusion.restart();

    const afterCrash = (await (await fusion.api('/api/v1/management/commands?agent_id=node-1')).json()) as { commands: Array<{ id: string; status: string }> };
    expect(afterCrash.commands.map((c) => [c.id, c.status])).to.have.deep.members([
      [sent, 'acknowledged'],
      [queued, 'queued'],
    ]);
    const second = await RawAgentClient.connectAs(fusion.url, 'node-1', fusion.enrollmentToken);
    clients.push(second);
    await second.hello();
    const redelivered = [await second.next('command'), await second.next('command')];
    expect(redelivered.map((f) => f.command_id)).to.deep.equal([sent, queued]);
    second.send({ type: 'command_result', command_id: sent, status: 'succeeded', output: { ok: true } });
    const done = (await (await fusion.api(`/api/v1/management/commands/${sent}?wait=5`)).json()) as { status: string; attempts: number };
    expect(done).to.include({ status: 'succeeded', attempts: 2 });
  });
});
