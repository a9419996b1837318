import { expect } from 'chai';
import { eventually } from '../harness/eventually.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { placeholderPackage } from './upgrade-fixtures.js';
import { RawAgentClient } from '../harness/raw-client.js';

interface RolloutJson {
  id: string;
  status: string;
  status_reason: string | null;
  current_batch: number;
  batch_count: number;
  next_batch_at: number | null;
  counts: { waiting: number; upgrading: number; succeeded: number; failed: number };
  agents: Array<{ agent_id: string; batch: number; command_id: string | null; status: string | null; error: string | null }>;
}

describe('batched upgrade rollouts', function () {
  this.timeout(20_000);
  let fusion: TestFusion;

  /** Answers the next upgrade command as an agent would: ack, then the result. */
  const answer = async (client: RawAgentClient, outcome: 'succeeded' | 'failed'): Promise<string> => {
    const command = await client.next('command');
    expect(command.command_type).to.equal('upgrade');
    client.send({ type: 'command_ack', command_id: command.command_id });
    if (outcome === 'succeeded') client.send({ type: 'command_result', command_id: command.command_id, status: 'succeeded', output: { version: command.args.version } });
    else client.send({ type: 'command_result', command_id: command.command_id, status: 'failed', error: 'package did not start; rolled back' });
    return command.command_id;
  };
  const rollout = async (id: string): Promise<RolloutJson> => (await (await fusion.api(`/api/v1/management/upgrades/${id}`)).json()) as RolloutJson;
  const until = (id: string, check: (r: RolloutJson) => boolean, message: string): Promise<RolloutJson> =>
    eventually(
      async () => {
        const r = await rollout(id);
        return check(r) ? r : undefined;
      },
      { message, timeoutMs: 10_000 },
    );
  const start = async (body: Record<string, unknown>): Promise<Response> =>
    fusion.api('/api/v1/management/upgrades', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  beforeEach(async () => {
    fusion = await startFusion();
    const res = await fusion.api('/api/v1/management/packages', { method: 'POST', headers: { 'content-type': 'application/gzip' }, body: placeholderPackage('2.0.0') });
    expect(res.status).to.equal(201);
  });
  afterEach(async () => {
    await fusion.stop();
  });

  it('starts the next batch only when every upgrade of the previous one has finished', async () => {
    const [a1, a2, a3, a4] = await Promise.all(['r-1', 'r-2', 'r-3', 'r-4'].map((id) => fusion.rawAgent(id)));
    const res = await start({ version: '2.0.0', agents: ['r-1', 'r-2', 'r-3', 'r-4'], batch_size: 2 });
    expect(res.status).to.equal(202);
    const started = (await res.json()) as RolloutJson;
    expect(started).to.include({ status: 'running', current_batch: 1, batch_count: 2 });
    expect(started.counts).to.deep.equal({ waiting: 2, upgrading: 2, succeeded: 0, failed: 0 });

    await answer(a1!, 'succeeded');
    const halfway = await until(started.id, (r) => r.counts.succeeded === 1, 'first upgrade counted');
    expect(halfway.current_batch).to.equal(1);
    expect(a3!.frames.some((f) => f.type === 'command')).to.equal(false);
    await answer(a2!, 'succeeded');
    await until(started.id, (r) => r.current_batch === 2, 'second batch starts');
    await Promise.all([answer(a3!, 'succeeded'), answer(a4!, 'succeeded')]);
    const done = await until(started.id, (r) => r.status === 'completed', 'rollout completes');
    expect(done.counts).to.deep.equal({ waiting: 0, upgrading: 0, succeeded: 4, failed: 0 });
    expect(done.agents.map((a) => [a.agent_id, a.batch, a.status])).to.deep.equal([
      ['r-1', 1, 'succeeded'],
      ['r-2', 1, 'succeeded'],
      ['r-3', 2, 'succeeded'],
      ['r-4', 2, 'succeeded'],
    ]);
    // The agents come a page at a time, in batch order; the counts always cover all of them.
    const pages: string[][] = [];
    let cursor: string | null = null;
    do {
      const page = (await (await fusion.api(`/api/v1/management/upgrades/${started.id}?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)).json()) as RolloutJson & { next_cursor: string | null };
      expect(page.counts).to.deep.equal({ waiting: 0, upgrading: 0, succeeded: 4, failed: 0 });
      pages.push(page.agents.map((a) => a.agent_id));
      cursor = page.next_cursor;
    } while (cursor && pages.length < 5);
    expect(pages).to.deep.equal([['r-1', 'r-2', 'r-3'], ['r-4']]);
    for (const bad of ['limit=0', 'cursor=bm9wZQ']) expect((await fusion.api(`/api/v1/management/upgrades/${started.id}?${bad}`)).status, bad).to.equal(400);
  });

  it('halts past max_failures, resumes on request, and a cancel withdraws the commands not yet acknowledged', async () => {
    const [b1, b2] = await Promise.all(['h-1', 'h-2', 'h-3'].map((id) => fusion.rawAgent(id)));
    const res = await start({ version: '2.0.0', agents: ['h-1', 'h-2', 'h-3'], percent: 33, max_failures: 0 });
    const { id } = (await res.json()) as RolloutJson;
    await answer(b1!, 'failed');
    const halted = await until(id, (r) => r.status === 'halted', 'rollout halts');
    expect(halted.status_reason).to.include('1 failed upgrade');
    expect(halted.agents[0]).to.include({ agent_id: 'h-1', status: 'failed', error: 'package did not start; rolled back' });
    expect(halted.counts.waiting).to.equal(2);

    const resumed = await fusion.api(`/api/v1/management/upgrades/${id}/resume`, { method: 'POST' });
    expect(resumed.status).to.equal(200);
    await answer(b2!, 'succeeded');
    const third = await until(id, (r) => r.current_batch === 3 && r.agents[2]!.status === 'sent', 'third batch sent');
    expect(third.status).to.equal('running');

    const cancelled = (await (await fusion.api(`/api/v1/management/upgrades/${id}/cancel`, { method: 'POST' })).json()) as RolloutJson;
    expect(cancelled.status).to.equal('cancelled');
    expect(cancelled.agents[2]).to.include({ agent_id: 'h-3', status: 'cancelled' });
    expect((await fusion.api(`/api/v1/management/upgrades/${id}/resume`, { method: 'POST' })).status).to.equal(409);
    const list = (await (await fusion.api('/api/v1/management/upgrades')).json()) as { rollouts: Array<{ id: string; status: string }>; next_cursor: string | null };
    expect(list.rollouts.map((r) => [r.id, r.status])).to.deep.equal([[id, 'cancelled']]);
    expect(list.next_cursor).to.equal(null);
    // The listing pages, newest first.
    const second = (await (await start({ version: '2.0.0', agents: ['h-1'] })).json()) as RolloutJson;
    const first = (await (await fusion.api('/api/v1/management/upgrades?limit=1')).json()) as typeof list;
    expect(first.rollouts.map((r) => r.id)).to.deep.equal([second.id]);
    const next = (await (await fusion.api(`/api/v1/management/upgrades?limit=1&cursor=${encodeURIComponent(first.next_cursor!)}`)).json()) as typeof list;
    expect([next.rollouts.map((r) => r.id), next.next_cursor]).to.deep.equal([[id], null]);
    expect((await fusion.api('/api/v1/management/upgrades?cursor=x')).status).to.equal(400);
  });

  it('a cancel made at the same time as a resume is never undone by it: the rollout ends cancelled or the cancel is refused', async () => {
    // A few rounds: each races one resume against one cancel of a halted rollout.
    for (const round of [1, 2, 3]) {
      const ids = [1, 2, 3].map((n) => `c${round}-${n}`);
      const [first] = await Promise.all(ids.map((id) => fusion.rawAgent(id)));
      const { id } = (await (await start({ version: '2.0.0', agents: ids, batch_size: 1, max_failures: 0 })).json()) as RolloutJson;
      await answer(first!, 'failed');
      await until(id, (r) => r.status === 'halted', 'rollout halts');

      const [resumed, cancelled] = await Promise.all([
        fusion.api(`/api/v1/management/upgrades/${id}/resume`, { method: 'POST' }),
        fusion.api(`/api/v1/management/upgrades/${id}/cancel`, { method: 'POST' }),
      ]);
      const after = await rollout(id);
      if (cancelled.status === 200) {
        // Answered as cancelled: it stays so, and no command of a batch started meanwhile is left to run.
        expect(after.status, `round ${round}`).to.equal('cancelled');
        expect(after.agents.filter((a) => a.status === 'queued' || a.status === 'sent'), `round ${round}`).to.deep.equal([]);
      } else {
        expect([cancelled.status, resumed.status, after.status], `round ${round}`).to.deep.equal([409, 200, 'running']);
      }
    }
  });

  it('counts an agent that never takes its command as a failure once the command expires, and keeps its schedule across a restart', async () => {
    const res = await start({ version: '2.0.0', agents: ['offline-1', 'offline-2'], batch_size: 1, max_failures: 5, ttl_seconds: 1, pause_seconds: 1 });
    const { id } = (await res.json()) as RolloutJson;
    const paused = await until(id, (r) => r.next_batch_at !== null, 'pause after the first batch');
    expect(paused.agents[0]).to.include({ status: 'expired' });
    await fusion.restart();
    const done = await until(id, (r) => r.status === 'completed', 'rollout completes after the restart');
    expect(done.counts).to.deep.equal({ waiting: 0, upgrading: 0, succeeded: 0, failed: 2 });
  });

  it('refuses a version never uploaded, an empty selection and a bad request', async () => {
    const unknown = await start({ version: '9.9.9', agents: ['x-1'] });
    expect(unknown.status).to.equal(400);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).to.equal('unknown_package');
    const none = await start({ version: '2.0.0', agents: 'online' });
    expect(none.status).to.equal(400);
    expect(((await none.json()) as { error: { code: string } }).error.code).to.equal('no_agents');
    expect((await start({ version: '2.0.0', agents: ['x-1'], batch_size: 1, percent: 50 })).status).to.equal(400);
    expect((await start({ version: '../x', agents: ['x-1'] })).status).to.equal(400);
    expect((await fusion.api('/api/v1/management/upgrades/nope')).status).to.equal(404);
  });
});
