/**
 * Push vs poll: N simulated agents on the WebSocket (Fusion pushes) against N
 * polling the pull endpoint every 30 s (a fresh connection per poll, first
 * polls spread over the interval). For each: Fusion's CPU seconds per minute
 * while nothing changes, then one group template change and the delivery
 * latency per agent (from the save to the agent running the new config).
 */
import { BENCH_ENROLLMENT_TOKEN, BenchScope, sleep, until } from '../lib/bench-scope.js';
import type { FusionRun } from '../lib/fusion-runner.js';
import { createGroup, fleetTemplate, saveTemplate } from '../lib/group-api.js';
import { distribution, type Distribution } from '../lib/report.js';

export const POLL_INTERVAL_MS = 30_000;

export interface TransportRun {
  transport: 'websocket' | 'poll';
  /** Fusion CPU (user + system) per minute of steady state with no change. */
  idle_cpu_s_per_min: number;
  /** Fusion CPU seconds from the save until the last agent ran the change (polling goes on meanwhile). */
  delivery_cpu_s: number;
  /** Save → last agent running the change, s. */
  delivery_window_s: number;
  /** Save → agent runs the new config, ms. */
  delivery: Distribution;
  polls_per_s: number | null;
}

export interface PushPollResult {
  n: number;
  window_s: number;
  poll_interval_s: number;
  runs: TransportRun[];
}

/** Puts every agent in the group through the API (pollers send no hello that could carry `group`). */
async function assignAll(fusion: FusionRun, ids: string[]): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < ids.length) {
      const id = ids[next++]!;
      const res = await fusion.api(`/api/v1/management/groups/bench/members/${id}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      if (!res.ok) throw new Error(`assign ${id}: HTTP ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

async function runTransport(n: number, transport: 'websocket' | 'poll', windowS: number): Promise<TransportRun> {
  const startTimeout = 60_000 + n * 20;
  const scope = new BenchScope();
  try {
    const fusion = await scope.fusion();
    await createGroup(fusion, 'bench', fleetTemplate(300));
    const prefix = transport === 'poll' ? 'poll-' : 'push-';
    if (transport === 'poll') {
      await assignAll(fusion, Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(5, '0')}`));
    }
    const fleet = scope.fleet();
    await fleet.call('start', [
      { url: fusion.url, token: BENCH_ENROLLMENT_TOKEN, count: n, prefix, transport, pollIntervalMs: POLL_INTERVAL_MS, ...(transport === 'websocket' && { group: 'bench' }) },
    ]);
    if (transport === 'websocket') {
      const connected = await fleet.call('waitConnected', [n, startTimeout], startTimeout + 10_000);
      if (connected < n) throw new Error(`only ${connected} of ${n} agents connected`);
    }
    await until('every agent runs the group config', startTimeout + POLL_INTERVAL_MS, async () => ((await fleet.call('snapshot', [])).applied >= n ? true : undefined), 250);
    await sleep(transport === 'poll' ? 2000 : 5000);

    const pollsBefore = (await fleet.call('snapshot', [])).polls;
    const cpu0 = await fusion.cpuSeconds();
    await sleep(windowS * 1000);
    const idleCpu = ((await fusion.cpuSeconds()) - cpu0) * (60 / windowS);
    const polls = (await fleet.call('snapshot', [])).polls - pollsBefore;

    const cpu1 = await fusion.cpuSeconds();
    const t0 = Date.now();
    await saveTemplate(fusion, 'bench', fleetTemplate(301));
    const times = await until('every agent runs the new config', POLL_INTERVAL_MS + 60_000, async () => {
      const applied = await fleet.call('appliedSince', [t0]);
      return applied.length >= n ? applied : undefined;
    }, 100);
    const deliverySeconds = (Date.now() - t0) / 1000;
    const deliveryCpu = (await fusion.cpuSeconds()) - cpu1;
    const snapshot = await fleet.call('snapshot', []);
    if (snapshot.problems > 0) throw new Error(`${transport}: ${snapshot.problems} problem(s): ${snapshot.problemSamples.join(' | ')}`);
    const run: TransportRun = {
      transport,
      idle_cpu_s_per_min: Number(idleCpu.toFixed(2)),
      delivery_cpu_s: Number(deliveryCpu.toFixed(2)),
      delivery_window_s: Number(deliverySeconds.toFixed(1)),
      delivery: distribution(times.map((at) => at - t0)),
      polls_per_s: transport === 'poll' ? Number((polls / windowS).toFixed(1)) : null,
    };
    process.stdout.write(
      `  ${transport}: idle CPU ${run.idle_cpu_s_per_min} s/min, delivery mean ${run.delivery.mean} ms, p99 ${run.delivery.p99} ms, last ${run.delivery.max} ms` +
        `${run.polls_per_s !== null ? `, ${run.polls_per_s} polls/s` : ''}\n`,
    );
    return run;
  } finally {
    await scope.close();
  }
}

export async function pushPoll(n: number, windowS: number): Promise<PushPollResult> {
  return {
    n,
    window_s: windowS,
    poll_interval_s: POLL_INTERVAL_MS / 1000,
    runs: [await runTransport(n, 'websocket', windowS), await runTransport(n, 'poll', windowS)],
  };
}
