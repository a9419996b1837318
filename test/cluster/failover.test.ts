import { expect } from 'chai';
import { eventually } from '../harness/eventually.js';
import type { TestFusion } from '../harness/fusion.js';
import { FusionProcess } from '../harness/fusion-process.js';
import { createTempDatabase, requirePostgres, type TempDatabase } from '../harness/postgres.js';
import { RawAgentClient } from '../harness/raw-client.js';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { startAgent, type TestAgent } from '../harness/start-agent.js';
import { tempHome } from '../harness/temp-home.js';
import { AS_WRITTEN, configDoc, signed } from '../agent/agent-fixture.js';
import { MOUNT_TEMPLATE, MemberAgent, assign, call, createGroup, ok, rollout, saveTemplate, states, withAudit } from '../groups/group-fixture.js';

/** The replicas' heartbeat here: one silent for two of them is dead. */
const HEARTBEAT_MS = 500;
const auditOf = (doc: Record<string, unknown> | null): unknown => (doc?.pipes as any)?.main.audit_interval_sec;

/**
 * Three Fusion replicas as child processes on one PostgreSQL, one of them
 * killed with SIGKILL: its agents move to the others, the work it held
 * under leases moves too, and nothing it acknowledged is lost.
 */
describe('replicas: a replica killed with SIGKILL', function () {
  this.timeout(120_000);
  let database: TempDatabase;
  let replicas: FusionProcess[] = [];
  const members: MemberAgent[] = [];
  const clients: RawAgentClient[] = [];
  const agents: TestAgent[] = [];

  before(async function () {
    await requirePostgres(this);
  });

  beforeEach(async () => {
    database = await createTempDatabase();
    // One after the other: the first holds every lease (nothing to race for).
    replicas = [];
    for (const id of ['p1', 'p2', 'p3']) {
      replicas.push(await FusionProcess.start({ env: { FUSION_DATABASE_URL: database.url, FUSION_REPLICA_ID: id, FUSION_REPLICA_HEARTBEAT_MS: String(HEARTBEAT_MS) } }));
    }
  });

  afterEach(async () => {
    for (const m of members.splice(0)) m.close();
    for (const c of clients.splice(0)) c.terminate();
    await Promise.all(agents.splice(0).map((x) => x.stop()));
    for (const r of replicas) await r.stop().catch(() => undefined);
    await database?.drop();
  });

  /** Test helpers take a started Fusion; a process answers the same API. */
  const asFusion = (p: FusionProcess): TestFusion => p as unknown as TestFusion;

  async function replicasSeenBy(p: FusionProcess): Promise<any[]> {
    return (await ok(asFusion(p), 'GET', '/api/v1/management/replicas')).replicas;
  }

  /** The replica holding `lease` (read from any live one). */
  async function holderOf(lease: string, from: FusionProcess): Promise<FusionProcess> {
    const id = await eventually(async () => (await replicasSeenBy(from)).find((r) => r.live && r.leases.includes(lease))?.id as string | undefined);
    return replicas[['p1', 'p2', 'p3'].indexOf(id)]!;
  }

  it('in the middle of a group rollout: nothing acknowledged is lost, the agents move, and the rollout completes', async () => {
    const victim = await holderOf('rollouts', replicas[0]!);
    const [second, third] = replicas.filter((r) => r !== victim) as [FusionProcess, FusionProcess];
    await createGroup(asFusion(second), 'nfs', MOUNT_TEMPLATE);
    // Half the members on the replica that also follows the rollouts, the rest on the others.
    const placement: Array<[string, FusionProcess]> = [
      ['n1', victim], ['n2', second], ['n3', victim], ['n4', third], ['n5', victim], ['n6', second],
    ];
    const byId = new Map<string, MemberAgent>();
    for (const [id, where] of placement) {
      const m = await MemberAgent.connect(asFusion(where), id);
      members.push(m);
      byId.set(id, m);
    }
    for (const [id] of placement) await assign(asFusion(third), 'nfs', id, { variables: { mount_point: id } });
    await eventually(() => [...byId.values()].every((m) => auditOf(m.document) === 300), { timeoutMs: 20_000 });

    const saved = await saveTemplate(asFusion(third), 'nfs', withAudit(MOUNT_TEMPLATE, 900), { strategy: 'batches', batch_size: 2, pause_seconds: 2 });
    expect(saved.rollout).to.include({ batch_count: 3 });
    // The first batch is acknowledged (through two replicas) and the rollout pauses before the next.
    const paused = await eventually(async () => {
      const v = await rollout(asFusion(second), saved.rollout.id);
      const applied = Object.values(states(v)).filter((s) => s === 'applied').length;
      return applied === 2 && v.next_batch_at !== null && v;
    }, { timeoutMs: 20_000 });
    const acknowledged = Object.entries(states(paused)).filter(([, s]) => s === 'applied').map(([id]) => id);

    await victim.kill();
    // Its agents find their sockets closed and come back through the other replicas, with what they run.
    for (const [id, where] of placement) {
      if (where !== victim) continue;
      const old = byId.get(id)!;
      await eventually(() => old.client.closeCode !== undefined);
      const credential = RawAgentClient.credentialOf(victim.url, id)!;
      const moved = await MemberAgent.connect(asFusion(id === 'n3' ? second : third), id, { from: old, token: credential });
      members.push(moved);
      byId.set(id, moved);
    }

    const done = await eventually(async () => {
      const v = await rollout(asFusion(second), saved.rollout.id);
      return v.status === 'completed' && v;
    }, { timeoutMs: 30_000, message: 'rollout completes after the kill' });
    expect(Object.values(states(done)).every((s) => s === 'applied'), JSON.stringify(states(done))).to.equal(true);
    for (const id of acknowledged) expect(states(done)[id]).to.equal('applied');
    expect([...byId.values()].every((m) => auditOf(m.document) === 900)).to.equal(true);
    // The rollouts lease moved to a live replica.
    const holder = await holderOf('rollouts', second);
    expect(holder).to.not.equal(victim);
  });

  it('real agents listing the replicas move to the next one with their credential and config; a save on a third reaches them there', async () => {
    const [p1, p2, p3] = replicas as [FusionProcess, FusionProcess, FusionProcess];
    const data = await tempHome('cluster-data-');
    try {
      await mkdir(path.join(data.path, 'src'));
      const first = signed(configDoc(path.join(data.path, 'src'), { sources: ['first'] }));
      for (const id of ['real-1', 'real-2']) expect((await call(asFusion(p3), 'POST', `/api/v1/management/agents/${id}/config/structured`, first.document)).status).to.equal(201);
      for (const id of ['real-1', 'real-2']) {
        agents.push(await startAgent({ url: p1.url, enrollmentToken: p1.enrollmentToken }, { agentId: id, controlPlaneUri: [p1.url, p2.url, p3.url], uriOrderRandom: AS_WRITTEN }));
      }
      for (const { agent } of agents) {
        await eventually(() => agent.snapshot().config.signature === first.signature && agent.controlPlaneUri === p1.url);
      }
      await p1.kill();
      for (const { agent } of agents) {
        await eventually(() => agent.snapshot().connected && agent.controlPlaneUri === p2.url, { timeoutMs: 20_000, message: 'the agent is connected to the next replica' });
        expect(agent.snapshot().config.signature).to.equal(first.signature);
      }
      // The agent's row names its new replica once that replica wrote it (right after the welcome).
      await eventually(async () => {
        const seen = (await call(asFusion(p3), 'GET', '/api/v1/management/agents/real-1')).body as { online: boolean; replica_id: string | null };
        return seen.online && seen.replica_id === 'p2';
      }, { message: 'a third replica shows the agent online on the second' });
      const second = signed(configDoc(path.join(data.path, 'src'), { sources: ['second'] }));
      expect((await call(asFusion(p3), 'POST', '/api/v1/management/agents/real-2/config/structured', second.document)).status).to.equal(201);
      await eventually(() => agents[1]!.agent.snapshot().config.signature === second.signature, { message: 'the save on the third replica reaches the agent on the second' });
    } finally {
      await Promise.all(agents.splice(0).map((x) => x.stop()));
      await data.remove();
    }
  });

  it('acknowledgements made while no replica follows the rollouts are picked up from the agents\' rows', async () => {
    const victim = await holderOf('rollouts', replicas[0]!);
    const [second, third] = replicas.filter((r) => r !== victim) as [FusionProcess, FusionProcess];
    await createGroup(asFusion(second), 'nfs', MOUNT_TEMPLATE);
    const placement: Array<[string, FusionProcess]> = [['n1', second], ['n2', third], ['n3', second], ['n4', third]];
    const byId = new Map<string, MemberAgent>();
    for (const [id, where] of placement) {
      const m = await MemberAgent.connect(asFusion(where), id);
      members.push(m);
      byId.set(id, m);
    }
    for (const [id] of placement) await assign(asFusion(second), 'nfs', id, { variables: { mount_point: id } });
    await eventually(() => [...byId.values()].every((m) => auditOf(m.document) === 300), { timeoutMs: 20_000 });
    // The first batch's members keep their configs unanswered until the replica following the rollout is dead.
    for (const m of byId.values()) m.holdConfigs = true;
    const saved = await saveTemplate(asFusion(third), 'nfs', withAudit(MOUNT_TEMPLATE, 900), { strategy: 'batches', batch_size: 2, batch_timeout_seconds: 600 });
    await eventually(() => [...byId.values()].filter((m) => m.received.length === 2).length === 2);
    await victim.kill();
    // Answered at once: the replicas holding these agents hand the answers to no one (the holder is gone), but record them.
    for (const m of byId.values()) m.answerHeld();
    const done = await eventually(async () => {
      const v = await rollout(asFusion(second), saved.rollout.id);
      return v.status === 'completed' && v;
    }, { timeoutMs: 30_000, message: 'rollout completes after the kill' });
    expect(states(done)).to.deep.equal({ n1: 'applied', n2: 'applied', n3: 'applied', n4: 'applied' });
  });

  it("hands the lease holder's work on within seconds, and shows its agents offline within two heartbeat intervals", async () => {
    const victim = await holderOf('commands', replicas[0]!);
    const survivor = replicas.find((r) => r !== victim)!;
    const agent = await RawAgentClient.connectAs(victim.url, 'node-1', victim.enrollmentToken);
    clients.push(agent);
    await agent.hello();
    const seen = await eventually(async () => {
      const v = (await call(asFusion(survivor), 'GET', '/api/v1/management/agents/node-1')).body;
      return v.online && v;
    });
    expect(seen.replica_id).to.equal(victim === replicas[0] ? 'p1' : victim === replicas[1] ? 'p2' : 'p3');

    await victim.kill();
    const killedAt = Date.now();
    await eventually(async () => !(await call(asFusion(survivor), 'GET', '/api/v1/management/agents/node-1')).body.online, { intervalMs: 50 });
    const offlineAfter = Date.now() - killedAt;
    // Two intervals after its last heartbeat, which came before the kill (50 ms of polling on top).
    expect(offlineAfter).to.be.below(2 * HEARTBEAT_MS + 100);

    // A command queued now for the offline agent expires: another replica took the sweep over.
    const created = await ok(asFusion(survivor), 'POST', '/api/v1/management/agents/node-1/command', { type: 'reload_config', args: {}, ttl_seconds: 1 }, 202);
    const expired = await eventually(async () => {
      const c = await ok(asFusion(survivor), 'GET', `/api/v1/management/commands/${created.id}`);
      return c.status === 'expired' && c;
    }, { timeoutMs: 10_000 });
    expect(expired.error).to.equal('ttl passed before a result');
    const list = await eventually(async () => {
      const r = await replicasSeenBy(survivor);
      const dead = r.find((x) => x.id === seen.replica_id);
      return dead && !dead.live && r.filter((x) => x.live).flatMap((x) => x.leases).length === 3 && r;
    });
    expect(list.filter((r: any) => r.live)).to.have.length(2);
  });
});
