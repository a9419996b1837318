/**
 * Replicas: 1, 2 and 3 Fusion replicas (child processes) on one fresh
 * PostgreSQL database, N simulated agents spread over them (agent i starts on
 * replica i mod K and moves to the next when its connection ends). Measures,
 * per K: a group template change's fan-out (save sent on replica 1 → the last
 * agent applied, as the agents saw it), the database statements that change
 * cost (fusion_db_statements_total summed over the replicas), memory per
 * replica (after a full GC, with every agent connected), and, for K > 1, how
 * fast the agents of a replica killed with SIGKILL come back through the
 * others (connects per second until all N are connected again).
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { BENCH_ADMIN_TOKEN, BENCH_ENROLLMENT_TOKEN, BenchScope, sleep, until } from '../lib/bench-scope.js';
import { freePort, FusionRun } from '../lib/fusion-runner.js';
import { createGroup, fleetTemplate, saveTemplate } from '../lib/group-api.js';
import { createTempDatabase } from '../../test/harness/postgres.js';

export interface ReplicasFigures {
  replicas: number;
  /** Save sent → last agent applied, ms (agents' clocks: same machine). */
  fanout_last_ms: number;
  save_ms: number;
  /** Statements every replica sent from the save until the last applied, summed. */
  db_statements: number;
  /** Heap used and RSS per replica after a full GC, MiB. */
  memory_mib: Array<{ heap: number; rss: number }>;
  /** Agents of the killed replica and how fast they came back through the others (K > 1). */
  failover: { moved: number; seconds: number; connects_per_s: number } | null;
}

export interface ReplicasResult {
  n: number;
  runs: ReplicasFigures[];
}

const GROUP = 'bench';
const mib = (bytes: number): number => Math.round(bytes / 1024 / 1024);

export async function replicasBench(n: number, counts: number[] = [1, 2, 3]): Promise<ReplicasResult> {
  const runs: ReplicasFigures[] = [];
  for (const k of counts) runs.push(await oneCluster(n, k));
  return { n, runs };
}

async function oneCluster(n: number, k: number): Promise<ReplicasFigures> {
  const startTimeout = 60_000 + n * 20;
  const scope = new BenchScope();
  try {
    const database = await createTempDatabase();
    scope.defer(`drop database ${database.name}`, () => database.drop());
    const secretKey = randomBytes(32).toString('hex');
    const replicas: FusionRun[] = [];
    for (let i = 1; i <= k; i++) {
      const home = await scope.tempDir(`bench-replica-${i}-`);
      const run = await FusionRun.start({
        home,
        port: await freePort(),
        adminToken: BENCH_ADMIN_TOKEN,
        enrollmentToken: BENCH_ENROLLMENT_TOKEN,
        logFile: path.join(home, 'fusion.log'),
        databaseUrl: database.url,
        inspect: true,
        logLevel: 'warn',
        env: { FUSION_REPLICA_ID: `replica-${i}`, FUSION_SECRET_KEY: secretKey },
      });
      scope.defer(`stop replica ${run.pid}`, () => run.stop(10_000));
      replicas.push(run);
    }
    const first = replicas[0]!;
    await createGroup(first, GROUP, fleetTemplate(300));
    const fleet = scope.fleet();
    await fleet.call('start', [{ url: first.url, urls: replicas.map((r) => r.url), token: BENCH_ENROLLMENT_TOKEN, count: n, prefix: 'rep-', group: GROUP }]);
    const connected = await fleet.call('waitConnected', [n, startTimeout], startTimeout + 10_000);
    if (connected < n) {
      const s = await fleet.call('snapshot', []);
      throw new Error(`only ${connected} of ${n} agents connected (${s.welcomes} welcomes, ${s.closes} closes, ${s.dialFailures} failed dials, refused ${JSON.stringify(s.refused)}, ${s.problems} problems: ${s.problemSamples.join(' | ')})`);
    }
    await until('every agent runs the group config', startTimeout, async () => ((await fleet.call('snapshot', [])).applied >= n ? true : undefined), 250);
    process.stdout.write(`replicas k=${k} n=${n}: agents connected and configured\n`);

    await sleep(1500);
    const before = await statements(replicas);
    const t0 = Date.now();
    const rolloutId = await saveTemplate(first, GROUP, fleetTemplate(301));
    const saveMs = Date.now() - t0;
    if (!rolloutId) throw new Error('the template save started no rollout');
    const times = await until('every agent applied the change', 120_000, async () => {
      const applied = await fleet.call('appliedSince', [t0]);
      return applied.length >= n ? applied : undefined;
    }, 50);
    const fanoutLast = Math.max(...times) - t0;
    await sleep(1000); // the acks' writes land
    const dbStatements = (await statements(replicas)) - before;
    const memory = [];
    for (const r of replicas) {
      const m = await r.memory();
      memory.push({ heap: mib(m.heapUsed), rss: mib(m.vmRss ?? m.rss) });
    }
    process.stdout.write(`  fan-out last ${fanoutLast} ms (save ${saveMs} ms), ${dbStatements} statements, memory ${memory.map((m) => `${m.heap}/${m.rss}`).join(' ')} MiB heap/rss\n`);

    let failover: ReplicasFigures['failover'] = null;
    if (k > 1) {
      await fleet.call('resetCounters', []);
      const victim = replicas[k - 1]!;
      const tKill = Date.now();
      await victim.kill();
      await until('the killed replica\'s agents are back through the others', startTimeout, async () => {
        const s = await fleet.call('snapshot', []);
        return s.connected >= n && s.welcomes > 0 ? true : undefined;
      }, 50);
      const welcomes = await fleet.call('welcomeTimes', []);
      const seconds = (Math.max(...welcomes) - tKill) / 1000;
      failover = { moved: welcomes.length, seconds: Number(seconds.toFixed(2)), connects_per_s: Math.round(welcomes.length / Math.max(seconds, 0.001)) };
      process.stdout.write(`  kill -9 of replica-${k}: ${welcomes.length} agents back in ${seconds.toFixed(2)} s (${failover.connects_per_s}/s)\n`);
    }
    return { replicas: k, fanout_last_ms: fanoutLast, save_ms: saveMs, db_statements: dbStatements, memory_mib: memory, failover };
  } finally {
    await scope.close();
  }
}

/** fusion_db_statements_total summed over the replicas still running. */
async function statements(replicas: FusionRun[]): Promise<number> {
  let total = 0;
  for (const r of replicas) {
    if (r.exited) continue;
    const text = await (await r.api('/metrics')).text();
    const line = text.split('\n').find((l) => l.startsWith('fusion_db_statements_total '));
    if (line === undefined) throw new Error('Fusion has no fusion_db_statements_total metric');
    total += Number(line.split(' ')[1]);
  }
  return total;
}
