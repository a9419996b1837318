/**
 * Fan-out: N simulated agents (another process) in one group of a Fusion
 * (its own process, fresh home). Each round saves a new group template and
 * times, per agent, from the moment the save is sent to the moment Fusion
 * recorded that agent's `applied` (the rollout's per-member `updated_at`).
 * Baseline: a bare ws server broadcasting the same payload (a config frame
 * captured during the run) to N bare clients in another process, timed to
 * each reply. The ratio compares the times to the last agent / last reply.
 */
import { BENCH_ENROLLMENT_TOKEN, BenchScope, sleep, until } from '../lib/bench-scope.js';
import { createGroup, fleetTemplate, rolloutProgress, saveTemplate } from '../lib/group-api.js';
import { distribution, median, type Distribution } from '../lib/report.js';

export interface FanoutOptions {
  n: number;
  /** Measured rounds (one unmeasured warm-up round runs first). */
  rounds: number;
}

export interface FanoutRound {
  /** HTTP round trip of the template save (render, validate, store, push), ms. */
  save_ms: number;
  /** Per agent: save sent → Fusion recorded `applied`, ms. */
  applied: Distribution;
  fusion_cpu_s: number;
}

export interface FanoutResult {
  n: number;
  fusion: { rounds: FanoutRound[]; last_ms: number; p50_ms: number; p99_ms: number; save_ms: number; frame_bytes: number; frame_encoding: string };
  baseline: { rounds: Array<{ send_ms: number; replies: Distribution }>; last_ms: number; p50_ms: number; p99_ms: number };
  /** Fusion's time to the last applied over the baseline's time to the last reply (medians of the rounds). */
  ratio: number;
}

const GROUP = 'bench';

export async function fanout(options: FanoutOptions): Promise<FanoutResult> {
  const { n } = options;
  const startTimeout = 60_000 + n * 20;
  let payload = '';
  const fusionRounds: FanoutRound[] = [];
  const scope = new BenchScope();
  try {
    const fusion = await scope.fusion();
    await createGroup(fusion, GROUP, fleetTemplate(300));
    const fleet = scope.fleet();
    await fleet.call('start', [{ url: fusion.url, token: BENCH_ENROLLMENT_TOKEN, count: n, prefix: 'fan-', group: GROUP }]);
    const connected = await fleet.call('waitConnected', [n, startTimeout], startTimeout + 10_000);
    if (connected < n) throw new Error(`only ${connected} of ${n} agents connected`);
    await until('every agent runs the group config', startTimeout, async () => ((await fleet.call('snapshot', [])).applied >= n ? true : undefined), 250);
    process.stdout.write(`fanout n=${n}: ${n} agents connected and configured\n`);

    for (let round = 0; round <= options.rounds; round++) {
      await sleep(1500);
      const cpuBefore = await fusion.cpuSeconds();
      const t0 = Date.now();
      const rolloutId = await saveTemplate(fusion, GROUP, fleetTemplate(301 + round));
      const saveMs = Date.now() - t0;
      if (!rolloutId) throw new Error('the template save started no rollout');
      await until(`round ${round}: every simulated agent applied`, 120_000, async () => ((await fleet.call('appliedSince', [t0])).length >= n ? true : undefined), 50);
      const progress = await until(`round ${round}: Fusion recorded every applied`, 60_000, async () => {
        const view = await rolloutProgress(fusion, rolloutId, false);
        return view.counts.applied + view.counts.failed >= n ? view : undefined;
      });
      const cpu = (await fusion.cpuSeconds()) - cpuBefore;
      if (progress.counts.applied !== n) throw new Error(`round ${round}: ${progress.counts.failed} agent(s) failed to apply`);
      const members = (await rolloutProgress(fusion, rolloutId, true)).agents ?? [];
      const applied = distribution(members.map((m) => m.updated_at - t0));
      const snapshot = await fleet.call('snapshot', []);
      if (snapshot.problems > 0 || snapshot.configRequests > 0) {
        throw new Error(`round ${round}: ${snapshot.problems} problem(s), ${snapshot.configRequests} config request(s): ${snapshot.problemSamples.join(' | ')}`);
      }
      process.stdout.write(`  round ${round}${round === 0 ? ' (warm-up)' : ''}: save ${saveMs} ms, applied p50 ${applied.p50} ms, p99 ${applied.p99} ms, last ${applied.max} ms, Fusion CPU ${cpu.toFixed(2)} s\n`);
      if (round > 0) fusionRounds.push({ save_ms: saveMs, applied, fusion_cpu_s: Number(cpu.toFixed(2)) });
    }
    payload = await fleet.call('lastConfigFrame', []);
  } finally {
    await scope.close();
  }

  const baselineRounds: FanoutResult['baseline']['rounds'] = [];
  const base = new BenchScope();
  try {
    const server = base.bareServer();
    const port = await server.call('listen', []);
    const clients = base.bareClients();
    const opened = await clients.call('connect', [`ws://127.0.0.1:${port}`, n, 200, startTimeout], startTimeout + 10_000);
    if (opened < n) throw new Error(`baseline: only ${opened} of ${n} bare clients connected`);
    await until('the bare server sees every client', 30_000, async () => ((await server.call('connections', [])) >= n ? true : undefined));
    for (let round = 0; round <= options.rounds; round++) {
      await sleep(1500);
      const result = await server.call('broadcast', [payload, 60_000], 70_000);
      if (result.replies < n) throw new Error(`baseline round ${round}: ${result.replies} of ${n} replies`);
      const replies = distribution(result.latencies);
      process.stdout.write(`  baseline round ${round}${round === 0 ? ' (warm-up)' : ''}: send ${result.sendMs.toFixed(1)} ms, reply p50 ${replies.p50} ms, p99 ${replies.p99} ms, last ${replies.max} ms\n`);
      if (round > 0) baselineRounds.push({ send_ms: Number(result.sendMs.toFixed(1)), replies });
    }
  } finally {
    await base.close();
  }

  const frame = JSON.parse(payload) as { encoding?: string };
  const fusionLast = median(fusionRounds.map((r) => r.applied.max));
  const baselineLast = median(baselineRounds.map((r) => r.replies.max));
  return {
    n,
    fusion: {
      rounds: fusionRounds,
      last_ms: fusionLast,
      p50_ms: median(fusionRounds.map((r) => r.applied.p50)),
      p99_ms: median(fusionRounds.map((r) => r.applied.p99)),
      save_ms: median(fusionRounds.map((r) => r.save_ms)),
      frame_bytes: Buffer.byteLength(payload),
      frame_encoding: frame.encoding ?? 'unknown',
    },
    baseline: {
      rounds: baselineRounds,
      last_ms: baselineLast,
      p50_ms: median(baselineRounds.map((r) => r.replies.p50)),
      p99_ms: median(baselineRounds.map((r) => r.replies.p99)),
    },
    ratio: Number((fusionLast / baselineLast).toFixed(2)),
  };
}
