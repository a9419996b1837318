import { fanout, type FanoutResult } from './fanout.js';
import { printTable } from '../lib/report.js';

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
}

export const BENCHMARKS = {
  fanout: {
    run: (n, flags) => fanout({ n, rounds: flags.rounds }),
    print(results) {
      printTable(
        'Fan-out of a group template change (ms from the save to applied recorded by Fusion; medians of the rounds)',
        (results as FanoutResult[]).map((r) => ({
          N: r.n,
          'save HTTP': r.fusion.save_ms,
          'Fusion p50': r.fusion.p50_ms,
          'Fusion p99': r.fusion.p99_ms,
          'Fusion last': r.fusion.last_ms,
          'bare ws p50': r.baseline.p50_ms,
          'bare ws p99': r.baseline.p99_ms,
          'bare ws last': r.baseline.last_ms,
          ratio: r.ratio,
          'target <=1.5': r.n >= 10_000 ? (r.ratio <= 1.5 ? 'met' : 'missed') : null,
        })),
      );
    },
  },
} satisfies Record<string, Benchmark>;

export type BenchmarkName = keyof typeof BENCHMARKS;
