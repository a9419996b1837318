/**
 * Reconnect storm: N simulated agents connected and configured, then Fusion
 * restarts (SIGTERM: each agent gets a reconnect hint and a close; a new
 * Fusion process on the same home and port). Measures the time from the
 * restart until every agent is connected again and Fusion shows it online
 * running its desired config, the peak of connections per second, and who
 * was left behind, once with jittered backoff (as real agents do) and once
 * with every agent in lock-step.
 */
import { BENCH_ENROLLMENT_TOKEN, BenchScope, until } from '../lib/bench-scope.js';
import { createGroup, fleetTemplate, listAllAgents } from '../lib/group-api.js';

/** Fusion's reconnect hint at shutdown (FUSION_SHUTDOWN_RETRY_MS). */
const RETRY_HINT_MS = 500;
/** How long a storm may take before the benchmark gives up on it. */
const STORM_LIMIT_MS = 120_000;

export interface StormRun {
  jitter: boolean;
  /** SIGTERM sent → old Fusion exited (its shutdown closes every socket), ms. */
  shutdown_ms: number;
  /** Old Fusion exited → new Fusion answering /healthz, ms. */
  restart_ms: number;
  /** SIGTERM sent → every agent welcomed again, ms. */
  all_back_ms: number;
  /** SIGTERM sent → Fusion lists every agent online with its desired config applied, ms. */
  all_applied_ms: number;
  /** Most welcomes in one second. */
  peak_connects_per_s: number;
  /** Welcomes per second from the first one, for a plot. */
  connects_per_s: number[];
  /** Agents not back (and applied) when the storm ended. */
  left_behind: number;
  /** Dials that failed (refused, reset, timed out) during the storm. */
  dial_failures: number;
  /** Configs Fusion had to send again (0 when every hello carried the right signature). */
  configs_resent: number;
  refused: Record<string, number>;
}

export interface ReconnectResult {
  n: number;
  retry_hint_ms: number;
  runs: StormRun[];
}

interface AgentRow {
  online: boolean;
  config: { status: string | null };
}

async function storm(n: number, jitter: boolean): Promise<StormRun> {
  const startTimeout = 60_000 + n * 20;
  const scope = new BenchScope();
  try {
    const first = await scope.fusion({ shutdownRetryMs: RETRY_HINT_MS });
    await createGroup(first, 'bench', fleetTemplate(300));
    const fleet = scope.fleet();
    await fleet.call('start', [{ url: first.url, token: BENCH_ENROLLMENT_TOKEN, count: n, prefix: 'storm-', group: 'bench', jitter }]);
    const connected = await fleet.call('waitConnected', [n, startTimeout], startTimeout + 10_000);
    if (connected < n) throw new Error(`only ${connected} of ${n} agents connected`);
    await until('every agent runs the group config', startTimeout, async () => ((await fleet.call('snapshot', [])).applied >= n ? true : undefined), 250);
    await fleet.call('resetCounters', []);

    const t0 = Date.now();
    await first.stop(60_000);
    const stopped = Date.now();
    const second = await scope.fusion({ home: first.options.home, port: first.options.port, logFile: first.options.logFile, shutdownRetryMs: RETRY_HINT_MS });
    const ready = Date.now();
    let allBack = Number.NaN;
    try {
      await until('every agent is back', STORM_LIMIT_MS, async () => ((await fleet.call('snapshot', [])).connected >= n ? true : undefined), 50);
      allBack = Date.now() - t0;
    } catch {
      // Reported below as agents left behind.
    }
    let allApplied = Number.NaN;
    let leftBehind = n;
    // Fusion's own view, asked only once the fleet says everyone is back (listing 10,000 agents is not free).
    const deadline = Math.max(t0 + STORM_LIMIT_MS, Date.now() + 10_000);
    while (Date.now() < deadline) {
      const agents = await listAllAgents<AgentRow>(second);
      leftBehind = n - agents.filter((a) => a.online && a.config.status === 'applied').length;
      if (leftBehind === 0) {
        allApplied = Date.now() - t0;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const snapshot = await fleet.call('snapshot', []);
    const welcomes = await fleet.call('welcomeTimes', []);
    const perSecond: number[] = [];
    const firstWelcome = welcomes[0] ?? t0;
    for (const at of welcomes) {
      const bucket = Math.floor((at - firstWelcome) / 1000);
      perSecond[bucket] = (perSecond[bucket] ?? 0) + 1;
    }
    const connectsPerS = Array.from(perSecond, (v) => v ?? 0);
    const run: StormRun = {
      jitter,
      shutdown_ms: stopped - t0,
      restart_ms: ready - stopped,
      all_back_ms: allBack,
      all_applied_ms: allApplied,
      peak_connects_per_s: Math.max(0, ...connectsPerS),
      connects_per_s: connectsPerS,
      left_behind: leftBehind,
      dial_failures: snapshot.dialFailures,
      configs_resent: snapshot.configsFull + snapshot.configsPatch,
      refused: snapshot.refused,
    };
    process.stdout.write(
      `  jitter ${jitter ? 'on ' : 'off'}: shutdown ${run.shutdown_ms} ms, restart ${run.restart_ms} ms, all back ${run.all_back_ms} ms, all applied ${run.all_applied_ms} ms, ` +
        `peak ${run.peak_connects_per_s}/s, left behind ${run.left_behind}, dial failures ${run.dial_failures}\n`,
    );
    return run;
  } finally {
    await scope.close();
  }
}

export async function reconnect(n: number): Promise<ReconnectResult> {
  return { n, retry_hint_ms: RETRY_HINT_MS, runs: [await storm(n, true), await storm(n, false)] };
}
