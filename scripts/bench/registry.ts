import { fanout, type FanoutResult } from './fanout.js';
import { memory, type MemoryResult } from './memory.js';
import { preview, type PreviewResult } from './preview.js';
import { pushPoll, type PushPollResult } from './pushpoll.js';
import { realtime, type RealtimeResult } from './realtime.js';
import { reconnect, type ReconnectResult } from './reconnect.js';
import { bigSave, type BigSaveResult } from './bigsave.js';
import { fleetOps, type FleetOpsResult } from './fleet-ops.js';
import { replicasBench, type ReplicasResult } from './replicas.js';
import { printTable } from '../lib/report.js';

const kib = (bytes: number): number => Math.round((bytes / 1024) * 10) / 10;
const mib = (bytes: number): number => Math.round(bytes / 1024 / 1024);

/** Options every benchmark may read (from the command line). */
export interface BenchFlags {
  /** Measured rounds, where a benchmark repeats its measurement. */
  rounds: number;
  /** Length of a steady-state measuring window, in seconds. */
  windowS: number;
}

export interface Benchmark {
  /** Runs the benchmark for N agents and returns its JSON-ready result. */
  run(n: number, flags: BenchFlags): Promise<unknown>;
  /** Prints the table of every N's result. */
  print(results: unknown[]): void;
  /** The N values run when --n is not given (default 1000,10000). */
  defaultN?: string;
}

export const BENCHMARKS = {
  fanout: {
    run: (n, flags) => fanout({ n, rounds: flags.rounds }),
    print(results) {
      printTable(
        'Fan-out of a group template change (ms from the save to applied recorded by Fusion; medians of the rounds)',
        (results as FanoutResult[]).flatMap((r) =>
          r.fusion.map((f) => ({
            N: r.n,
            template: f.template,
            'save HTTP': f.save_ms,
            'Fusion p50': f.p50_ms,
            'Fusion p99': f.p99_ms,
            'Fusion last': f.last_ms,
            'CPU ms/member': f.cpu_ms_per_member,
            'SQL statements': f.db_statements,
            'bare ws p50': r.baseline.p50_ms,
            'bare ws p99': r.baseline.p99_ms,
            'bare ws last': r.baseline.last_ms,
            ratio: f.ratio,
            'floor last': r.floor.find((x) => x.template === f.template)?.last_ms ?? null,
            'floor ratio': r.floor.find((x) => x.template === f.template)?.ratio ?? null,
            'target <=1.5': r.n >= 10_000 ? (f.ratio <= 1.5 ? 'met' : 'missed') : null,
          })),
        ),
      );
    },
  },
  memory: {
    run: (n, flags) => memory(n, flags.rounds),
    print(results) {
      printTable(
        'Memory per connected idle agent (KiB; measured inside each process after full GCs; medians of the runs)',
        (results as MemoryResult[]).map(({ n, median: m }) => ({
          N: n,
          'Fusion RSS MiB': mib(m.fusion.rss_total),
          'Fusion RSS/agent': kib(m.fusion.per_agent.rss),
          'Fusion heap/agent': kib(m.fusion.per_agent.heap_used),
          'bare RSS MiB': mib(m.baseline.rss_total),
          'bare RSS/client': kib(m.baseline.per_agent.rss),
          'bare heap/client': kib(m.baseline.per_agent.heap_used),
          'ratio RSS': m.ratio.rss,
          'ratio heap': m.ratio.heap_used,
          '2nd half ratio RSS': m.ratio.marginal_rss,
          '2nd half ratio heap': m.ratio.marginal_heap_used,
          'target <=2': n >= 10_000 ? (m.ratio.rss <= 2 && m.ratio.heap_used <= 2 ? 'met' : 'missed') : null,
        })),
      );
    },
  },
  reconnect: {
    run: (n) => reconnect(n),
    print(results) {
      printTable(
        'Reconnect storm: Fusion restarted under N connected agents (ms from SIGTERM)',
        (results as ReconnectResult[]).flatMap((r) =>
          r.runs.map((run) => ({
            N: r.n,
            jitter: run.jitter ? 'on' : 'off',
            shutdown: run.shutdown_ms,
            'restart': run.restart_ms,
            'all back': run.all_back_ms,
            'all applied': run.all_applied_ms,
            'peak conn/s': run.peak_connects_per_s,
            'left behind': run.left_behind,
            'dial failures': run.dial_failures,
            'configs resent': run.configs_resent,
            'target <=20 s': r.n >= 10_000 ? (run.all_applied_ms <= 20_000 && run.left_behind === 0 ? 'met' : 'missed') : null,
          })),
        ),
      );
    },
  },
  pushpoll: {
    run: (n, flags) => pushPoll(n, flags.windowS),
    print(results) {
      printTable(
        'Push (WebSocket) vs poll (every 30 s): delivery of one change, and Fusion CPU',
        (results as PushPollResult[]).flatMap((r) =>
          r.runs.map((run) => ({
            N: r.n,
            transport: run.transport,
            'mean ms': run.delivery.mean,
            'p50 ms': run.delivery.p50,
            'p99 ms': run.delivery.p99,
            'last ms': run.delivery.max,
            'idle CPU s/min': run.idle_cpu_s_per_min,
            'CPU s save→last': run.delivery_cpu_s,
            'polls/s': run.polls_per_s,
          })),
        ),
      );
    },
  },
  realtime: {
    run: (n) => realtime(n),
    print(results) {
      printTable(
        'Realtime: a change on disk to the view (ms; the view polled every 10 ms)',
        (results as RealtimeResult[]).flatMap((r) => [
          ...r.phases.map((p) => ({ N: r.n, change: p.phase, 'p50 ms': p.latency.p50, 'p99 ms': p.latency.p99, 'last ms': p.latency.max, 'target p99 <=1000': p.latency.p99 <= 1000 ? 'met' : 'missed' })),
          { N: r.n, change: `rename a directory of ${r.n}`, 'p50 ms': null, 'p99 ms': null, 'last ms': r.rename_ms, 'target p99 <=1000': r.rename_ms <= 1000 ? 'met' : 'missed' },
        ]),
      );
    },
  },
  bigsave: {
    run: (kib, flags) => bigSave(kib, flags.rounds),
    defaultN: '256,1024',
    print(results) {
      printTable(
        'Small requests while an admin saves a large YAML config (ms; N = KiB of YAML)',
        (results as BigSaveResult[]).map((r) => ({
          'N KiB': r.kib,
          sources: r.sources,
          'save p50': r.saves.p50,
          'save max': r.saves.max,
          'idle p50': r.idle.p50,
          'idle max': r.idle.max,
          'during p50': r.during.p50,
          'during p99': r.during.p99,
          'during max': r.during.max,
          probes: r.during.count,
          'added max': r.added_max_ms,
          'target <200': r.added_max_ms < 200 ? 'met' : 'missed',
        })),
      );
    },
  },
  'fleet-ops': {
    run: (n) => fleetOps(n),
    print(results) {
      printTable(
        'Fleet operations: a page of 100 agents by selector (Fusion ms), event-loop delay p99 with a web UI session open',
        (results as FleetOpsResult[]).map((r) => ({
          N: r.n,
          'page p50': r.page_first.p50,
          'page p99': r.page_first.p99,
          'deep page p99': r.page_deep.p99,
          'target page <=10': r.n >= 10_000 ? (r.page_first.p99 <= 10 && r.page_deep.p99 <= 10 ? 'met' : 'missed') : null,
          'loop p99 idle': r.loop_p99_idle_ms,
          'loop p99 fan-out': r.loop_p99_fanout_ms,
          'loop p99 storm': r.loop_p99_storm_ms,
          'target loop <=50': r.n >= 10_000 ? (Math.max(r.loop_p99_fanout_ms, r.loop_p99_storm_ms) <= 50 ? 'met' : 'missed') : null,
          'fan-out ms': r.fanout_ms,
          'storm ms': r.storm_ms,
          'UI requests': r.ui_requests,
        })),
      );
    },
  },
  preview: {
    run: (n, flags) => preview(n, flags.rounds),
    print(results) {
      printTable(
        'Preview (dry run) of a group change to N connected members (ms per HTTP request; median and max of the rounds)',
        (results as PreviewResult[]).flatMap((r) =>
          r.cases.map((c) => ({
            N: r.n,
            request: c.name,
            'median ms': c.median_ms,
            'max ms': c.max_ms,
            'Fusion CPU s': c.fusion_cpu_s,
            'answer KiB': c.bytes ? kib(c.bytes) : null,
            'slowest /healthz ms': c.healthz_max_ms || null,
            'target ~1 s': r.n >= 10_000 && c.name.startsWith('template dry run, page') ? (c.median_ms <= 1000 ? 'met' : 'missed') : null,
          })),
        ),
      );
    },
  },
  replicas: {
    run: (n) => replicasBench(n, (process.env.FUSTOR_BENCH_REPLICAS ?? '1,2,3').split(',').map(Number)),
    defaultN: '10000',
    print(results) {
      printTable(
        'Replicas on one PostgreSQL: group-change fan-out (save on replica 1 → last agent applied), statements per save, memory per replica, kill -9 of the last replica',
        (results as ReplicasResult[]).flatMap((r) =>
          r.runs.map((x) => ({
            N: r.n,
            replicas: x.replicas,
            'fan-out last ms': x.fanout_last_ms,
            'save ms': x.save_ms,
            'SQL statements/save': x.db_statements,
            'heap/RSS MiB per replica': x.memory_mib.map((m) => `${m.heap}/${m.rss}`).join(' '),
            'moved agents': x.failover?.moved ?? null,
            'back in s': x.failover?.seconds ?? null,
            'connects/s': x.failover?.connects_per_s ?? null,
          })),
        ),
      );
    },
  },
} satisfies Record<string, Benchmark>;

export type BenchmarkName = keyof typeof BENCHMARKS;
