/**
 * The fan-out's protocol floor: the same simulated fleet, the same sequence of
 * template changes (per-agent rounds, then shared), but served by the minimal
 * protocol server of floor-server-child.ts (frames planned before the clock
 * starts, replies read with JSON.parse, nothing stored). Timed from the first
 * send to each agent's `applied`.
 */
import { BENCH_ENROLLMENT_TOKEN, BenchScope, sleep, until } from '../lib/bench-scope.js';
import { distribution, median, type Distribution } from '../lib/report.js';
import type { TemplateKind } from './fanout.js';

export interface FloorFigures {
  template: TemplateKind;
  rounds: Array<{ send_ms: number; applied: Distribution }>;
  last_ms: number;
  p50_ms: number;
  p99_ms: number;
  frame_bytes: number;
}

/** Runs `rounds` measured rounds (after a warm-up) per template against the protocol floor server. */
export async function fanoutFloor(n: number, rounds: number, startTimeout: number): Promise<FloorFigures[]> {
  const figures: FloorFigures[] = [];
  const scope = new BenchScope();
  try {
    const server = scope.floorServer();
    const port = await server.call('listen', []);
    const fleet = scope.fleet();
    await fleet.call('start', [{ url: `http://127.0.0.1:${port}`, token: BENCH_ENROLLMENT_TOKEN, count: n, prefix: 'fan-' }]);
    const connected = await fleet.call('waitConnected', [n, startTimeout], startTimeout + 10_000);
    if (connected < n) throw new Error(`floor: only ${connected} of ${n} agents connected`);
    await until('floor: every agent runs its first config', startTimeout, async () => ((await fleet.call('snapshot', [])).applied >= n ? true : undefined), 250);
    let audit = 300;
    for (const template of ['per-agent', 'shared'] as const) {
      const measured: FloorFigures['rounds'] = [];
      let frameBytes = 0;
      for (let round = 0; round <= rounds; round++) {
        await sleep(1500);
        frameBytes = (await server.call('prepare', [++audit, template === 'per-agent'], 120_000)).frameBytes;
        const result = await server.call('broadcast', [60_000], 70_000);
        if (result.applied < n) throw new Error(`floor round ${round}: ${result.applied} of ${n} agents applied`);
        const snapshot = await fleet.call('snapshot', []);
        if (snapshot.problems > 0 || snapshot.configRequests > 0) {
          throw new Error(`floor round ${round}: ${snapshot.problems} problem(s), ${snapshot.configRequests} config request(s): ${snapshot.problemSamples.join(' | ')}`);
        }
        const applied = distribution(result.latencies);
        process.stdout.write(
          `  floor ${template} round ${round}${round === 0 ? ' (warm-up)' : ''}: send ${result.sendMs.toFixed(1)} ms, applied p50 ${applied.p50} ms, p99 ${applied.p99} ms, last ${applied.max} ms\n`,
        );
        if (round > 0) measured.push({ send_ms: Number(result.sendMs.toFixed(1)), applied });
      }
      figures.push({
        template,
        rounds: measured,
        last_ms: median(measured.map((r) => r.applied.max)),
        p50_ms: median(measured.map((r) => r.applied.p50)),
        p99_ms: median(measured.map((r) => r.applied.p99)),
        frame_bytes: frameBytes,
      });
    }
  } finally {
    await scope.close();
  }
  return figures;
}
