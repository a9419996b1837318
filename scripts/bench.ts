#!/usr/bin/env node
/**
 * `npm run bench -- <fanout|memory|reconnect|pushpoll|fleet-ops|realtime|preview|bigsave> [--n 1000,10000] [...]`
 *
 * Runs one benchmark for each N in turn (loopback only; every wait bounded),
 * prints a table and writes bench-results/<name>.json. Fusion runs as a child
 * process with a fresh home; simulated agents and the bare-ws baseline run in
 * processes of their own. Children and temporary directories are removed even
 * when a run fails or is interrupted.
 */
import { parseArgs } from 'node:util';
import { BenchScope } from './lib/bench-scope.js';
import { machineLoad } from './lib/proc-stats.js';
import { machine, writeResults } from './lib/report.js';
import { BENCHMARKS, type BenchmarkName } from './bench/registry.js';

const USAGE = `Usage: npm run bench -- <name> [--n 1000,10000] [options]

Benchmarks:
  fanout     group template change to N agents, per-agent time to applied, vs a bare ws broadcast [--rounds 3]
  memory     Fusion RSS and heap per connected idle agent, vs a bare ws server [--rounds 3]
  reconnect  restart Fusion under N connected agents: time until all are back, peak connects/s; with and without jitter
  pushpoll   N agents polling every 30 s vs N on the WebSocket: delivery latency and Fusion CPU s/min [--window 60]
  bigsave    latency of small requests while an admin saves an N-KiB YAML config (default 256,1024) [--rounds 3]
  fleet-ops  a page of 100 agents by selector (Fusion time), and Fusion's event-loop delay p99 with a web UI
             session open during a group fan-out and a reconnect storm
  realtime   create, modify and delete N files (default 1000) under a watched tree, rename a directory of N:
             latency from the change on disk to the view
  replicas   1, 2 and 3 replicas on one PostgreSQL with N agents spread over them (default N 10000): fan-out,
             statements per save, memory per replica, connects/s after kill -9 of one (FUSTOR_BENCH_REPLICAS=1,2,3)
  preview    dry runs of a group change to N connected members (page with diffs, counts only, 1,000 diffs, a member), vs the real save [--rounds 3]

--database sqlite,postgres runs each N on both (Fusion's state in the home's
SQLite file, or in a PostgreSQL database made for the run and dropped after:
FUSION_TEST_POSTGRES_URL names the server, default postgres://postgres@127.0.0.1:5432/postgres).

Each N needs one open file per agent in the load process and one in Fusion
(ulimit -n; 10,000 agents fit under a limit of 20,000).`;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      n: { type: 'string' },
      rounds: { type: 'string' },
      window: { type: 'string' },
      database: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const name = positionals[0] as BenchmarkName | undefined;
  if (values.help || !name) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(values.help ? 0 : 2);
  }
  const bench = Object.hasOwn(BENCHMARKS, name) ? BENCHMARKS[name] : undefined;
  if (!bench) {
    process.stderr.write(`unknown benchmark "${name}"\n\n${USAGE}\n`);
    process.exit(2);
  }
  const defaultN: string | undefined = 'defaultN' in bench ? bench.defaultN : name === 'realtime' ? '1000' : undefined;
  const sizes = (values.n ?? defaultN ?? '1000,10000').split(',').map((s) => Number(s.trim()));
  if (sizes.some((s) => !Number.isInteger(s) || s <= 0 || s > 18_000)) {
    process.stderr.write('--n takes agent counts from 1 to 18000, comma-separated\n');
    process.exit(2);
  }
  const flags = { rounds: Number(values.rounds ?? 3), windowS: Number(values.window ?? 60) };
  if (!Number.isInteger(flags.rounds) || flags.rounds < 1 || !(flags.windowS > 0)) {
    process.stderr.write('--rounds takes a whole number from 1, --window a number of seconds\n');
    process.exit(2);
  }
  const databases = (values.database ?? (name === 'replicas' ? 'postgres' : 'sqlite')).split(',').map((d) => d.trim());
  if (databases.some((d) => d !== 'sqlite' && d !== 'postgres')) {
    process.stderr.write('--database takes sqlite, postgres or both, comma-separated (PostgreSQL: FUSION_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres)\n');
    process.exit(2);
  }
  const started = new Date().toISOString();
  const env = machine();
  const byDatabase: Record<string, unknown[]> = {};
  for (const database of databases) {
    // Read by BenchScope when it starts a Fusion: PostgreSQL gets a database of its own per Fusion home.
    process.env.FUSTOR_BENCH_DATABASE = database;
    const results: unknown[] = [];
    for (const n of sizes) {
      process.stdout.write(`\n== ${name}, N = ${n}, ${database === 'postgres' ? 'PostgreSQL' : 'SQLite'} ==\n`);
      results.push(await bench.run(n, flags));
    }
    byDatabase[database] = results;
  }
  for (const database of databases) {
    process.stdout.write(`\n#### ${name} on ${database === 'postgres' ? 'PostgreSQL' : 'SQLite'}\n`);
    bench.print(byDatabase[database]! as never);
  }
  const results = databases.length === 1 ? byDatabase[databases[0]!]! : byDatabase;
  const file = await writeResults(name, { benchmark: name, started, finished: new Date().toISOString(), machine: { ...env, load1_at_end: machineLoad().load1 }, databases, results });
  process.stdout.write(`\nwrote ${file}\n`);
}

// Ctrl-C and SIGTERM stop every child (Fusion has no IPC channel to notice a vanished parent) and remove the temporary directories.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: stopping the children\n`);
    setTimeout(() => process.exit(130), 30_000).unref();
    BenchScope.closeAll()
      .catch(() => undefined)
      .finally(() => process.exit(130));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
