/**
 * Memory per connected idle agent: Fusion (its own process, measured inside
 * after full garbage collections) with N simulated agents connected, each
 * running its group's config, against a bare ws server holding N idle bare
 * clients. Per agent = (memory with N connected - memory before the first
 * connection) / N, for RSS and for the JS heap.
 */
import { BENCH_ENROLLMENT_TOKEN, BenchScope, sleep, until } from '../lib/bench-scope.js';
import { createGroup, fleetTemplate } from '../lib/group-api.js';
import type { NodeMemory } from '../lib/proc-stats.js';

export interface MemoryFigures {
  before: NodeMemory;
  connected: NodeMemory;
  /** Bytes per connected agent. */
  per_agent: { rss: number; heap_used: number; external: number };
}

export interface MemoryResult {
  n: number;
  fusion: MemoryFigures;
  baseline: MemoryFigures;
  /** Fusion's per-agent figure over the baseline's. */
  ratio: { rss: number; heap_used: number };
}

/** Time for the heap and RSS to settle after the last connection (and a heartbeat or two). */
const SETTLE_MS = 5000;

function perAgent(before: NodeMemory, after: NodeMemory, n: number): MemoryFigures['per_agent'] {
  return {
    rss: Math.round((after.rss - before.rss) / n),
    heap_used: Math.round((after.heapUsed - before.heapUsed) / n),
    external: Math.round((after.external - before.external) / n),
  };
}

export async function memory(n: number): Promise<MemoryResult> {
  const startTimeout = 60_000 + n * 20;
  let fusionFigures: MemoryFigures;
  const scope = new BenchScope();
  try {
    const fusion = await scope.fusion({ inspect: true });
    await createGroup(fusion, 'bench', fleetTemplate(300));
    await sleep(2000);
    const before = await fusion.memory();
    const fleet = scope.fleet();
    await fleet.call('start', [{ url: fusion.url, token: BENCH_ENROLLMENT_TOKEN, count: n, prefix: 'mem-', group: 'bench' }]);
    const connected = await fleet.call('waitConnected', [n, startTimeout], startTimeout + 10_000);
    if (connected < n) throw new Error(`only ${connected} of ${n} agents connected`);
    await until('every agent runs the group config', startTimeout, async () => ((await fleet.call('snapshot', [])).applied >= n ? true : undefined), 250);
    await sleep(SETTLE_MS);
    await fusion.memory();
    const after = await fusion.memory();
    const still = await fleet.call('snapshot', []);
    if (still.connected < n) throw new Error(`${n - still.connected} agents dropped while idle`);
    fusionFigures = { before, connected: after, per_agent: perAgent(before, after, n) };
    process.stdout.write(`  Fusion: ${(fusionFigures.per_agent.rss / 1024).toFixed(1)} KiB RSS, ${(fusionFigures.per_agent.heap_used / 1024).toFixed(1)} KiB heap per agent\n`);
  } finally {
    await scope.close();
  }

  let baseline: MemoryFigures;
  const base = new BenchScope();
  try {
    const server = base.bareServer();
    const port = await server.call('listen', []);
    await sleep(2000);
    const before = await server.call('memory', []);
    const clients = base.bareClients();
    const opened = await clients.call('connect', [`ws://127.0.0.1:${port}`, n, 200, startTimeout], startTimeout + 10_000);
    if (opened < n) throw new Error(`baseline: only ${opened} of ${n} bare clients connected`);
    await until('the bare server sees every client', 30_000, async () => ((await server.call('connections', [])) >= n ? true : undefined));
    await sleep(SETTLE_MS);
    await server.call('memory', []);
    const after = await server.call('memory', []);
    baseline = { before, connected: after, per_agent: perAgent(before, after, n) };
    process.stdout.write(`  bare ws: ${(baseline.per_agent.rss / 1024).toFixed(1)} KiB RSS, ${(baseline.per_agent.heap_used / 1024).toFixed(1)} KiB heap per client\n`);
  } finally {
    await base.close();
  }
  return {
    n,
    fusion: fusionFigures,
    baseline,
    ratio: {
      rss: Number((fusionFigures.per_agent.rss / baseline.per_agent.rss).toFixed(2)),
      heap_used: Number((fusionFigures.per_agent.heap_used / baseline.per_agent.heap_used).toFixed(2)),
    },
  };
}
