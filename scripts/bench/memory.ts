/**
 * Memory per connected idle agent: Fusion (its own process, measured inside
 * after full garbage collections) with N simulated agents connected, each
 * running its group's config, against a bare ws server holding N idle bare
 * clients. Agents connect in two halves, so two figures come out, for RSS and
 * for the JS heap: per agent = (memory with N connected - memory before the
 * first connection) / N, and the marginal cost of the second half =
 * (memory with N - memory with N/2) / (N/2), which leaves out one-time growth
 * (code compiled, caches and heap spaces sized on first use).
 */
import { BENCH_ENROLLMENT_TOKEN, BenchScope, sleep, until } from '../lib/bench-scope.js';
import { createGroup, fleetTemplate } from '../lib/group-api.js';
import type { NodeMemory } from '../lib/proc-stats.js';
import { median } from '../lib/report.js';

export interface PerAgent {
  rss: number;
  heap_used: number;
  external: number;
}

export interface MemoryFigures {
  before: NodeMemory;
  half: NodeMemory;
  connected: NodeMemory;
  /** Bytes per connected agent, from empty to N. */
  per_agent: PerAgent;
  /** Bytes per agent of the second half (N/2 to N). */
  marginal: PerAgent;
}

export interface MemoryRun {
  fusion: MemoryFigures;
  baseline: MemoryFigures;
  /** Fusion's figures over the baseline's. */
  ratio: { rss: number; heap_used: number; marginal_rss: number; marginal_heap_used: number };
}

/** RSS follows how large V8 chose to make its heap, so single runs scatter: medians of several runs. */
export interface MemoryResult {
  n: number;
  runs: MemoryRun[];
  median: {
    fusion: { per_agent: PerAgent; marginal: PerAgent; rss_total: number };
    baseline: { per_agent: PerAgent; marginal: PerAgent; rss_total: number };
    ratio: MemoryRun['ratio'];
  };
}

/** Time for the heap and RSS to settle after the last connection (and a heartbeat or two). */
const SETTLE_MS = 5000;

function perAgent(before: NodeMemory, after: NodeMemory, n: number): PerAgent {
  return {
    rss: Math.round((after.rss - before.rss) / n),
    heap_used: Math.round((after.heapUsed - before.heapUsed) / n),
    external: Math.round((after.external - before.external) / n),
  };
}

function figures(before: NodeMemory, half: NodeMemory, connected: NodeMemory, n: number): MemoryFigures {
  const half_n = Math.floor(n / 2);
  return { before, half, connected, per_agent: perAgent(before, connected, n), marginal: perAgent(half, connected, n - half_n) };
}

const ratio = (a: number, b: number): number => Number((a / b).toFixed(2));

export async function memory(n: number, rounds: number): Promise<MemoryResult> {
  const runs: MemoryRun[] = [];
  for (let i = 0; i < rounds; i++) {
    process.stdout.write(`  run ${i + 1} of ${rounds}\n`);
    runs.push(await memoryRun(n));
  }
  const med = (pick: (r: MemoryRun) => number): number => Math.round(median(runs.map(pick)) * 100) / 100;
  const side = (k: 'fusion' | 'baseline') => ({
    per_agent: { rss: med((r) => r[k].per_agent.rss), heap_used: med((r) => r[k].per_agent.heap_used), external: med((r) => r[k].per_agent.external) },
    marginal: { rss: med((r) => r[k].marginal.rss), heap_used: med((r) => r[k].marginal.heap_used), external: med((r) => r[k].marginal.external) },
    rss_total: med((r) => r[k].connected.rss),
  });
  return {
    n,
    runs,
    median: {
      fusion: side('fusion'),
      baseline: side('baseline'),
      ratio: {
        rss: med((r) => r.ratio.rss),
        heap_used: med((r) => r.ratio.heap_used),
        marginal_rss: med((r) => r.ratio.marginal_rss),
        marginal_heap_used: med((r) => r.ratio.marginal_heap_used),
      },
    },
  };
}

async function memoryRun(n: number): Promise<MemoryRun> {
  const startTimeout = 60_000 + n * 20;
  const halves = [Math.floor(n / 2), n - Math.floor(n / 2)];
  let fusionFigures: MemoryFigures;
  const scope = new BenchScope();
  try {
    const fusion = await scope.fusion({ inspect: true });
    await createGroup(fusion, 'bench', fleetTemplate(300));
    await sleep(2000);
    const measured: NodeMemory[] = [await fusion.memory()];
    let expected = 0;
    for (const [i, count] of halves.entries()) {
      const fleet = scope.fleet();
      await fleet.call('start', [{ url: fusion.url, token: BENCH_ENROLLMENT_TOKEN, count, prefix: `mem-${i}-`, group: 'bench' }]);
      const connected = await fleet.call('waitConnected', [count, startTimeout], startTimeout + 10_000);
      if (connected < count) throw new Error(`only ${connected} of ${count} agents connected`);
      await until('every agent runs the group config', startTimeout, async () => ((await fleet.call('snapshot', [])).applied >= count ? true : undefined), 250);
      expected += count;
      await sleep(SETTLE_MS);
      await fusion.memory();
      measured.push(await fusion.memory());
    }
    // Asked after measuring: the dashboard lists every agent, which is not free.
    const { totals } = (await (await fusion.api('/api/v1/management/dashboard')).json()) as { totals: { online: number } };
    if (totals.online < expected) throw new Error(`${expected - totals.online} agents dropped while idle`);
    fusionFigures = figures(measured[0]!, measured[1]!, measured[2]!, n);
    process.stdout.write(
      `  Fusion: ${(fusionFigures.per_agent.rss / 1024).toFixed(1)} KiB RSS, ${(fusionFigures.per_agent.heap_used / 1024).toFixed(1)} KiB heap per agent ` +
        `(second half: ${(fusionFigures.marginal.rss / 1024).toFixed(1)} KiB RSS, ${(fusionFigures.marginal.heap_used / 1024).toFixed(1)} KiB heap)\n`,
    );
  } finally {
    await scope.close();
  }

  let baseline: MemoryFigures;
  const base = new BenchScope();
  try {
    const server = base.bareServer();
    const port = await server.call('listen', []);
    await sleep(2000);
    const measured: NodeMemory[] = [await server.call('memory', [])];
    const clients = base.bareClients();
    let expected = 0;
    for (const count of halves) {
      const opened = await clients.call('connect', [`ws://127.0.0.1:${port}`, count, 200, startTimeout], startTimeout + 10_000);
      if (opened < count) throw new Error(`baseline: only ${opened} of ${count} bare clients connected`);
      expected += count;
      await until('the bare server sees every client', 30_000, async () => ((await server.call('connections', [])) >= expected ? true : undefined));
      await sleep(SETTLE_MS);
      await server.call('memory', []);
      measured.push(await server.call('memory', []));
    }
    baseline = figures(measured[0]!, measured[1]!, measured[2]!, n);
    process.stdout.write(
      `  bare ws: ${(baseline.per_agent.rss / 1024).toFixed(1)} KiB RSS, ${(baseline.per_agent.heap_used / 1024).toFixed(1)} KiB heap per client ` +
        `(second half: ${(baseline.marginal.rss / 1024).toFixed(1)} KiB RSS, ${(baseline.marginal.heap_used / 1024).toFixed(1)} KiB heap)\n`,
    );
  } finally {
    await base.close();
  }
  return {
    fusion: fusionFigures,
    baseline,
    ratio: {
      rss: ratio(fusionFigures.per_agent.rss, baseline.per_agent.rss),
      heap_used: ratio(fusionFigures.per_agent.heap_used, baseline.per_agent.heap_used),
      marginal_rss: ratio(fusionFigures.marginal.rss, baseline.marginal.rss),
      marginal_heap_used: ratio(fusionFigures.marginal.heap_used, baseline.marginal.heap_used),
    },
  };
}
