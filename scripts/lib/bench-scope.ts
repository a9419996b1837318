import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ChildRpc } from './child-rpc.js';
import type { BareClientsHandlers } from './bare-clients-child.js';
import type { BareServerHandlers } from './bare-server-child.js';
import type { FleetHandlers } from './fleet-child.js';
import type { FloorServerHandlers } from './floor-server-child.js';
import { createTempDatabase } from '../../test/harness/postgres.js';
import { freePort, FusionRun, type FusionRunOptions } from './fusion-runner.js';

/** The database this run's Fusions keep their state in (bench --database). */
export function benchDatabase(): 'sqlite' | 'postgres' {
  return process.env.FUSTOR_BENCH_DATABASE === 'postgres' ? 'postgres' : 'sqlite';
}

export const BENCH_ADMIN_TOKEN = 'bench-admin-token-0123456789abcdef';
export const BENCH_ENROLLMENT_TOKEN = 'bench-enrollment-token-0123456789abcdef';

export type FleetRpc = ChildRpc<FleetHandlers>;
export type BareServerRpc = ChildRpc<BareServerHandlers>;
export type BareClientsRpc = ChildRpc<BareClientsHandlers>;
export type FloorServerRpc = ChildRpc<FloorServerHandlers>;

/**
 * Everything one benchmark run creates (temporary directories, Fusion, helper
 * processes), released in reverse order by `close()`, which the benchmark
 * runner calls in a `finally` and on SIGINT/SIGTERM: a failed or interrupted
 * run leaves no process or directory behind.
 */
export class BenchScope {
  /** Scopes not closed yet, so a signal handler can release them all. */
  private static readonly open = new Set<BenchScope>();
  private readonly cleanups: Array<{ what: string; run: () => Promise<void> }> = [];
  private closed = false;

  constructor() {
    BenchScope.open.add(this);
  }

  /** Closes every scope still open (on SIGINT/SIGTERM). */
  static async closeAll(): Promise<void> {
    await Promise.all([...BenchScope.open].map((scope) => scope.close()));
  }

  /** Registers a cleanup step; returns a function that runs it early (once). */
  defer(what: string, run: () => Promise<void>): () => Promise<void> {
    let done = false;
    const step = {
      what,
      run: async () => {
        if (done) return;
        done = true;
        await run();
      },
    };
    this.cleanups.push(step);
    return step.run;
  }

  async tempDir(prefix: string): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
    this.defer(`remove ${dir}`, () => rm(dir, { recursive: true, force: true }));
    return dir;
  }

  /** PostgreSQL databases made for a home in this scope (a restart on the home reuses its database). */
  private readonly databases = new Map<string, string>();

  /**
   * The PostgreSQL URL Fusion on `home` uses when the run is on PostgreSQL
   * (`--database postgres`, FUSTOR_BENCH_DATABASE): a database of its own,
   * dropped when the scope closes; undefined on SQLite.
   */
  async databaseFor(home: string): Promise<string | undefined> {
    if (benchDatabase() !== 'postgres') return undefined;
    let url = this.databases.get(home);
    if (url === undefined) {
      const database = await createTempDatabase();
      this.defer(`drop database ${database.name}`, () => database.drop());
      url = database.url;
      this.databases.set(home, url);
    }
    return url;
  }

  /** Fusion in a child process with a fresh home (or `home`), on a free port, its log in the home. */
  async fusion(options: Partial<FusionRunOptions> = {}): Promise<FusionRun> {
    const home = options.home ?? (await this.tempDir('bench-fusion-'));
    const databaseUrl = options.databaseUrl ?? (await this.databaseFor(home));
    const run = await FusionRun.start({
      home,
      ...(databaseUrl !== undefined ? { databaseUrl } : {}),
      port: options.port ?? (await freePort()),
      adminToken: BENCH_ADMIN_TOKEN,
      enrollmentToken: BENCH_ENROLLMENT_TOKEN,
      logFile: options.logFile ?? path.join(home, 'fusion.log'),
      nodeArgs: (process.env.FUSTOR_BENCH_FUSION_NODE_ARGS ?? '').split(' ').filter(Boolean),
      ...options,
    });
    this.defer(`stop Fusion ${run.pid}`, () => run.stop(10_000));
    return run;
  }

  /** A process holding a simulated fleet (not started yet: call `start`). */
  fleet(): FleetRpc {
    const extra = (process.env.FUSTOR_BENCH_FLEET_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const rpc = ChildRpc.spawn<FleetHandlers>('fleet', 'scripts/lib/fleet-child.ts', { execArgv: ['--expose-gc', '--max-old-space-size=4096', ...extra] });
    // FUSTOR_BENCH_FLEET_NICE=10: the simulated fleet takes only the CPU Fusion leaves, as a fleet
    // on its own machines would (on this machine both share the same cores).
    const nice = Number(process.env.FUSTOR_BENCH_FLEET_NICE ?? 0);
    if (nice > 0) os.setPriority(rpc.pid, Math.min(19, nice));
    this.defer(`stop fleet ${rpc.pid}`, () => rpc.stop(15_000));
    return rpc;
  }

  bareServer(): BareServerRpc {
    const rpc = ChildRpc.spawn<BareServerHandlers>('bare ws server', 'scripts/lib/bare-server-child.ts', { execArgv: ['--expose-gc'] });
    this.defer(`stop bare server ${rpc.pid}`, () => rpc.stop());
    return rpc;
  }

  /** The protocol floor: a minimal protocol server with no storage (see floor-server-child.ts). */
  floorServer(): FloorServerRpc {
    const rpc = ChildRpc.spawn<FloorServerHandlers>('protocol floor server', 'scripts/lib/floor-server-child.ts', { execArgv: ['--expose-gc'] });
    this.defer(`stop floor server ${rpc.pid}`, () => rpc.stop());
    return rpc;
  }

  bareClients(): BareClientsRpc {
    const rpc = ChildRpc.spawn<BareClientsHandlers>('bare ws clients', 'scripts/lib/bare-clients-child.ts', { execArgv: ['--expose-gc'] });
    this.defer(`stop bare clients ${rpc.pid}`, () => rpc.stop());
    return rpc;
  }

  /** Runs every cleanup, newest first; a failing step is reported and the others still run. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    BenchScope.open.delete(this);
    for (const step of this.cleanups.reverse()) {
      try {
        await step.run();
      } catch (err) {
        process.stderr.write(`cleanup "${step.what}" failed: ${err instanceof Error ? err.message : String(err)}\n`);
      }
    }
  }
}

/** Polls `check` every `intervalMs` until it returns a value other than undefined; throws after `timeoutMs` naming `what`. */
export async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
