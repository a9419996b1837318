/**
 * Fan-out: N simulated agents (another process) in one group of a Fusion
 * (its own process, fresh home). Each round saves a new group template and
 * times, per agent, from the moment the save is sent to the moment Fusion
 * recorded that agent's `applied` (the rollout's per-member `updated_at`).
 * Two templates: `per-agent` names the agent in a path, so each member's
 * document (and patch) is its own; `shared` gives every member the same one.
 * Baseline: a bare ws server broadcasting the same payload (a config frame
 * captured during the run) to N bare clients in another process, timed to
 * each reply. The ratio compares the times to the last agent / last reply.
 * Between the two, the protocol floor (fanout-floor.ts): the same fleet and
 * changes served by a minimal protocol server that stores nothing, so the
 * table shows how much of the time the protocol and the agents' own work take
 * and how much Fusion adds.
 */
import { BENCH_ENROLLMENT_TOKEN, BenchScope, sleep, until } from '../lib/bench-scope.js';
import type { FusionRun } from '../lib/fusion-runner.js';
import { createGroup, fleetTemplate, rolloutProgress, saveTemplate } from '../lib/group-api.js';
import { distribution, median, type Distribution } from '../lib/report.js';
import { fanoutFloor, type FloorFigures } from './fanout-floor.js';

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
  /** SQL statements Fusion sent from the save until every member's applied was recorded (acks included). */
  db_statements: number;
}

export type TemplateKind = 'per-agent' | 'shared';

export interface FanoutFigures {
  template: TemplateKind;
  rounds: FanoutRound[];
  /** Medians over the rounds. */
  last_ms: number;
  p50_ms: number;
  p99_ms: number;
  save_ms: number;
  /** Fusion CPU per member, ms (median round's CPU over N). */
  cpu_ms_per_member: number;
  /** SQL statements from the save to the last applied (median; acks included). */
  db_statements: number;
  /** A config frame as agents received it in the last round. */
  frame_bytes: number;
  frame_encoding: string;
  /** Time to the last applied over the baseline's time to the last reply. */
  ratio: number;
}

export interface FanoutResult {
  n: number;
  fusion: FanoutFigures[];
  /** The protocol floor, with its time to the last applied over the baseline's. */
  floor: Array<FloorFigures & { ratio: number }>;
  baseline: { payload_bytes: number; rounds: Array<{ send_ms: number; replies: Distribution }>; last_ms: number; p50_ms: number; p99_ms: number };
}

const GROUP = 'bench';

export async function fanout(options: FanoutOptions): Promise<FanoutResult> {
  const { n } = options;
  const startTimeout = 60_000 + n * 20;
  const measured: Array<Omit<FanoutFigures, 'ratio'>> = [];
  let payload = '';
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

    let audit = 300;
    for (const template of ['per-agent', 'shared'] as const) {
      const rounds: FanoutRound[] = [];
      for (let round = 0; round <= options.rounds; round++) {
        await sleep(1500);
        const cpuBefore = await fusion.cpuSeconds();
        // The second of two scrapes: the first one's fleet count (cached for 2 s) is behind it, not in the figure.
        await dbStatements(fusion);
        const statementsBefore = await dbStatements(fusion);
        const t0 = Date.now();
        const rolloutId = await saveTemplate(fusion, GROUP, fleetTemplate(++audit, template === 'per-agent'));
        const saveMs = Date.now() - t0;
        if (!rolloutId) throw new Error('the template save started no rollout');
        await until(`round ${round}: every simulated agent applied`, 120_000, async () => ((await fleet.call('appliedSince', [t0])).length >= n ? true : undefined), 50);
        const progress = await until(`round ${round}: Fusion recorded every applied`, 60_000, async () => {
          const view = await rolloutProgress(fusion, rolloutId, false);
          return view.counts.applied + view.counts.failed >= n ? view : undefined;
        });
        const cpu = (await fusion.cpuSeconds()) - cpuBefore;
        const statements = (await dbStatements(fusion)) - statementsBefore - SCRAPE_STATEMENTS;
        if (progress.counts.applied !== n) throw new Error(`round ${round}: ${progress.counts.failed} agent(s) failed to apply`);
        const members = (await rolloutProgress(fusion, rolloutId, true)).agents ?? [];
        const applied = distribution(members.map((m) => m.updated_at - t0));
        const snapshot = await fleet.call('snapshot', []);
        if (snapshot.problems > 0 || snapshot.configRequests > 0) {
          throw new Error(`round ${round}: ${snapshot.problems} problem(s), ${snapshot.configRequests} config request(s): ${snapshot.problemSamples.join(' | ')}`);
        }
        process.stdout.write(
          `  ${template} round ${round}${round === 0 ? ' (warm-up)' : ''}: save ${saveMs} ms, applied p50 ${applied.p50} ms, p99 ${applied.p99} ms, last ${applied.max} ms, Fusion CPU ${cpu.toFixed(2)} s, ${statements} SQL statements\n`,
        );
        if (round > 0) rounds.push({ save_ms: saveMs, applied, fusion_cpu_s: Number(cpu.toFixed(2)), db_statements: statements });
      }
      const frame = await fleet.call('lastConfigFrame', []);
      if (template === 'per-agent') payload = frame;
      measured.push({
        template,
        rounds,
        last_ms: median(rounds.map((r) => r.applied.max)),
        p50_ms: median(rounds.map((r) => r.applied.p50)),
        p99_ms: median(rounds.map((r) => r.applied.p99)),
        save_ms: median(rounds.map((r) => r.save_ms)),
        cpu_ms_per_member: Number(((median(rounds.map((r) => r.fusion_cpu_s)) * 1000) / n).toFixed(3)),
        db_statements: median(rounds.map((r) => r.db_statements)),
        frame_bytes: Buffer.byteLength(frame),
        frame_encoding: (JSON.parse(frame) as { encoding?: string }).encoding ?? 'unknown',
      });
    }
  } finally {
    await scope.close();
  }

  const floor = await fanoutFloor(n, options.rounds, startTimeout);

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

  const baselineLast = median(baselineRounds.map((r) => r.replies.max));
  return {
    n,
    fusion: measured.map((m) => ({ ...m, ratio: Number((m.last_ms / baselineLast).toFixed(2)) })),
    floor: floor.map((f) => ({ ...f, ratio: Number((f.last_ms / baselineLast).toFixed(2)) })),
    baseline: {
      payload_bytes: Buffer.byteLength(payload),
      rounds: baselineRounds,
      last_ms: baselineLast,
      p50_ms: median(baselineRounds.map((r) => r.replies.p50)),
      p99_ms: median(baselineRounds.map((r) => r.replies.p99)),
    },
  };
}

/** Statements a /metrics scrape sends when its fleet count is cached (agent and command counts). */
const SCRAPE_STATEMENTS = 2;

/** Fusion's `fusion_db_statements_total`, as of the start of this scrape. */
async function dbStatements(fusion: FusionRun): Promise<number> {
  const text = await (await fusion.api('/metrics')).text();
  const line = text.split('\n').find((l: string) => l.startsWith('fusion_db_statements_total '));
  if (line === undefined) throw new Error('Fusion has no fusion_db_statements_total metric');
  return Number(line.split(' ')[1]);
}
