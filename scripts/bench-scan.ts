/**
 * End-to-end scan throughput and Fusion's memory per indexed entry.
 *
 *   npm run bench:scan -- [--entries 100000] [--batch-size 1000 (the sender's default)] [--files-per-dir 100] [--timeout-sec 900]
 *
 * Generates a tree of `--entries` files and directories in a temporary
 * directory, runs Fusion as a child process with a fresh home (loopback only)
 * and one agent in this process with one pipe over the tree, then times:
 *   0. a bare walk of the tree (synchronous readdir + lstat on one thread,
 *      nothing sent): the limit the end-to-end figures are measured against;
 *   1. the first snapshot: from the agent's start to Fusion having applied the
 *      snapshot's last batch (Fusion's own clock, same host), every entry in the view;
 *      also from the opening of the sender's session (the walk starts then) and
 *      from its first batch at Fusion, both to its last;
 *   2. a `scan` command of the whole root: from the admin's request to the
 *      command's result, every batch accepted by Fusion.
 * Fusion's memory is measured inside Fusion (inspector: gc(), process.memoryUsage())
 * and from /proc/<pid>/status VmRSS, before the agent starts and after each phase.
 * Prints a table and writes bench-results/scan.json. Removes everything it created.
 */
import { randomBytes } from 'node:crypto';
import { lstatSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Agent } from '../agent/agent.js';
import { DEFAULT_BATCH_SIZE } from '../agent/drivers/fusion-sender.js';
import { createLogger } from '../shared/logger.js';
import { adminApi, receiverKey, waitForSnapshot, type Api } from './lib/dataplane-rig.js';
import { FusionRun, freePort } from './lib/fusion-runner.js';

/** Fusion's memory as measured in its own process. */
interface FusionMemory {
  /** VmRSS from /proc/<pid>/status (Linux); null where /proc is missing. */
  vm_rss_bytes: number | null;
  /** process.memoryUsage() inside Fusion, after two full garbage collections. */
  rss_bytes: number;
  heap_used_bytes: number;
  heap_total_bytes: number;
  external_bytes: number;
  array_buffers_bytes: number;
}

async function fusionMemory(fusion: FusionRun): Promise<FusionMemory> {
  const m = await fusion.memory();
  return {
    vm_rss_bytes: m.vmRss,
    rss_bytes: m.rss,
    heap_used_bytes: m.heapUsed,
    heap_total_bytes: m.heapTotal,
    external_bytes: m.external,
    array_buffers_bytes: m.arrayBuffers,
  };
}
import { makeTree, type MadeTree } from './bench/make-tree.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const AGENT_ID = 'bench-agent';

interface Options {
  entries: number;
  batchSize: number;
  filesPerDir: number;
  timeoutSec: number;
}

interface PhaseResult {
  phase: string;
  entries: number;
  seconds: number;
  entries_per_second: number;
  /** CPU seconds Fusion's process and the agent's (this process: its event loop and the walk worker) used in the phase. */
  cpu_fusion_s?: number;
  cpu_agent_s?: number;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      entries: { type: 'string', default: '100000' },
      'batch-size': { type: 'string', default: String(DEFAULT_BATCH_SIZE) },
      'files-per-dir': { type: 'string', default: '100' },
      'timeout-sec': { type: 'string', default: '900' },
    },
    strict: true,
  });
  const int = (name: string, raw: string, min: number, max: number): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer in ${min}..${max}, got "${raw}"`);
    return n;
  };
  return {
    entries: int('entries', values.entries, 1, 10_000_000),
    batchSize: int('batch-size', values['batch-size'], 1, 10_000),
    filesPerDir: int('files-per-dir', values['files-per-dir'], 1, 100_000),
    timeoutSec: int('timeout-sec', values['timeout-sec'], 1, 86_400),
  };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const deadline = Date.now() + options.timeoutSec * 1000;
  const interrupted = new AbortController();
  process.once('SIGINT', () => interrupted.abort(new Error('interrupted')));
  const checkTime = (what: string): void => {
    interrupted.signal.throwIfAborted();
    if (Date.now() > deadline) throw new Error(`${what}: over the ${options.timeoutSec} s budget (--timeout-sec)`);
  };

  const work = await mkdtemp(path.join(os.tmpdir(), 'fustor-bench-scan-'));
  const tree = path.join(work, 'tree');
  let fusion: FusionRun | undefined;
  let agent: Agent | undefined;
  try {
    await mkdir(tree);
    log(`building a tree of ${options.entries} entries in ${tree}`);
    const buildStart = performance.now();
    const made = await makeTree(tree, { entries: options.entries, filesPerDir: options.filesPerDir, dirsPerGroup: 32 }, interrupted.signal);
    log(`tree built in ${seconds(performance.now() - buildStart)} s: ${made.files} files, ${made.dirs} directories`);

    log('phase 0: bare walk of the same tree (readdirSync + lstatSync on one thread): the limit');
    const bare = bareWalk(tree);
    if (bare.entries !== options.entries + 1) throw new Error(`the bare walk saw ${bare.entries} entries, expected ${options.entries + 1}`);

    const adminToken = randomBytes(24).toString('hex');
    const enrollmentToken = randomBytes(24).toString('hex');
    await mkdir(path.join(work, 'fusion'));
    fusion = await FusionRun.start({
      home: path.join(work, 'fusion'),
      port: await freePort(),
      adminToken,
      enrollmentToken,
      inspect: true,
      logFile: path.join(work, 'fusion.log'),
      // To profile Fusion during a run: FUSTOR_BENCH_FUSION_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
      nodeArgs: (process.env.FUSTOR_BENCH_FUSION_NODE_ARGS ?? '').split(' ').filter(Boolean),
    });
    const api = adminApi(fusion.url, adminToken);
    const dataKey = await receiverKey(path.join(work, 'fusion'));
    log(`Fusion (pid ${fusion.pid}) at ${fusion.url}`);
    const before = await fusionMemory(fusion);

    await api('POST', `/api/v1/management/agents/${AGENT_ID}/config/structured`, {
      sources: { tree: { driver: 'fs', uri: tree } },
      senders: { fusion: { driver: 'fusion', uri: fusion.url, credential: { key: dataKey }, batch_size: options.batchSize } },
      // No audit runs again during the benchmark: the first snapshot is the only full walk.
      pipes: { bench: { source: 'tree', sender: 'fusion', audit_interval_sec: 31 * 24 * 3600 } },
    });
    agent = new Agent({
      home: path.join(work, 'agent'),
      agentId: AGENT_ID,
      controlPlaneUri: fusion.url,
      authToken: enrollmentToken,
      logger: createLogger('fustor-agent', 'warn'),
    });

    log('phase 1: first snapshot');
    let cpu = await cpuMark(fusion);
    const snapshotStart = Date.now();
    await agent.start();
    const snapshot = await waitForSnapshot(fusion.url, dataKey, checkTime);
    await expectViewHolds(fusion.url, dataKey, made);
    const afterSnapshot = await fusionMemory(fusion);
    const results: PhaseResult[] = [phase('bare walk, no sending (the limit)', options.entries, bare.ms)];
    results.push({ ...phase('first snapshot (agent start → view complete)', options.entries, snapshot.finished_at - snapshotStart), ...(await cpuSince(fusion, cpu)) });
    results.push(phase('  from the opening of its session (walk, send, apply)', options.entries, snapshot.finished_at - snapshot.session_created_at));
    results.push(phase('  from its first batch to its last at Fusion', options.entries, snapshot.finished_at - snapshot.started_at));

    log('phase 2: scan command of the whole root');
    cpu = await cpuMark(fusion);
    const scanStart = Date.now();
    const command = await runCommand(api, { type: 'scan', args: { path: '.' } }, checkTime);
    const scanMs = Date.now() - scanStart;
    if (command.status !== 'succeeded') throw new Error(`scan command ${command.status}: ${command.error}`);
    await expectViewHolds(fusion.url, dataKey, made);
    const afterScan = await fusionMemory(fusion);
    results.push({ ...phase('scan command (request → result)', options.entries, scanMs), ...(await cpuSince(fusion, cpu)) });

    const report = {
      date: new Date().toISOString(),
      machine: { load_average_at_end: os.loadavg(), cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model ?? null, total_memory_bytes: os.totalmem(), node: process.version, platform: `${os.platform()} ${os.release()}` },
      options: { entries: options.entries, batch_size: options.batchSize, files_per_dir: options.filesPerDir },
      tree: made,
      results,
      memory: {
        method:
          'Fusion in a child process: process.memoryUsage() read inside Fusion after two gc() calls (node --expose-gc, evaluated over a loopback inspector session); VmRSS from /proc/<pid>/status',
        before,
        after_snapshot: afterSnapshot,
        after_scan: afterScan,
        per_entry_after_snapshot: perEntry(before, afterSnapshot, options.entries),
      },
    };
    printReport(report.results, before, afterSnapshot, afterScan, options.entries, report.memory.method);
    const out = path.join(ROOT, 'bench-results', 'scan.json');
    await mkdir(path.dirname(out), { recursive: true });
    await writeFile(out, `${JSON.stringify(report, null, 2)}\n`);
    log(`figures written to ${path.relative(process.cwd(), out) || out}`);
  } finally {
    await agent?.stop().catch((err: unknown) => log(`agent stop failed: ${(err as Error).message}`));
    await fusion?.stop();
    await rm(work, { recursive: true, force: true });
  }
}

/** Walks the tree as fast as one Node thread can (synchronous readdir and lstat, nothing kept): the walk's own limit. */
function bareWalk(root: string): { entries: number; ms: number } {
  const started = performance.now();
  let entries = 1;
  const pending = [root];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    for (const name of readdirSync(dir)) {
      const full = `${dir}/${name}`;
      entries += 1;
      if (lstatSync(full).isDirectory()) pending.push(full);
    }
  }
  return { entries, ms: performance.now() - started };
}

async function expectViewHolds(base: string, key: string, made: MadeTree): Promise<void> {
  const res = await fetch(`${base}/api/v1/views/default/stats`, { headers: { 'x-api-key': key } });
  const stats = (await res.json()) as { files: number; dirs: number; total_bytes: number };
  if (stats.files !== made.files || stats.dirs !== made.dirs || stats.total_bytes !== made.bytes) {
    throw new Error(`the view holds ${JSON.stringify(stats)}, expected ${JSON.stringify(made)}`);
  }
}

async function runCommand(api: Api, command: { type: string; args: unknown }, checkTime: (what: string) => void): Promise<{ status: string; error: string | null }> {
  const { id } = (await api('POST', `/api/v1/management/agents/${AGENT_ID}/command`, command)) as { id: string };
  for (;;) {
    checkTime(`waiting for command ${id}`);
    const record = (await api('GET', `/api/v1/management/commands/${id}?wait=30`)) as { status: string; error: string | null };
    if (['succeeded', 'failed', 'expired', 'cancelled'].includes(record.status)) return record;
  }
}

interface CpuMark {
  fusion: number;
  agent: NodeJS.CpuUsage;
}

async function cpuMark(fusion: FusionRun): Promise<CpuMark> {
  return { fusion: await fusion.cpuSeconds(), agent: process.cpuUsage() };
}

async function cpuSince(fusion: FusionRun, mark: CpuMark): Promise<{ cpu_fusion_s: number; cpu_agent_s: number }> {
  const agent = process.cpuUsage(mark.agent);
  return {
    cpu_fusion_s: Number(((await fusion.cpuSeconds()) - mark.fusion).toFixed(2)),
    cpu_agent_s: Number(((agent.user + agent.system) / 1e6).toFixed(2)),
  };
}

function phase(name: string, entries: number, ms: number): PhaseResult {
  const s = Math.max(ms, 1) / 1000;
  return { phase: name, entries, seconds: Number(s.toFixed(3)), entries_per_second: Math.round(entries / s) };
}

function perEntry(before: FusionMemory, after: FusionMemory, entries: number) {
  const per = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : Number(((b - a) / entries).toFixed(1)));
  return {
    heap_used_bytes: per(before.heap_used_bytes, after.heap_used_bytes),
    vm_rss_bytes: per(before.vm_rss_bytes, after.vm_rss_bytes),
    rss_bytes: per(before.rss_bytes, after.rss_bytes),
  };
}

function printReport(results: PhaseResult[], before: FusionMemory, afterSnapshot: FusionMemory, afterScan: FusionMemory, entries: number, method: string): void {
  const rows = results.map((r) => [r.phase, String(r.entries), r.seconds.toFixed(2), String(r.entries_per_second), r.cpu_fusion_s?.toFixed(2) ?? '', r.cpu_agent_s?.toFixed(2) ?? '']);
  const load = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  console.log(`\n${table(['phase', 'entries', 'seconds', 'entries/s', 'Fusion CPU s', 'agent CPU s'], rows)}\n\nload average at the end: ${load} (${os.cpus().length} cores)\n`);
  const mib = (n: number | null): string => (n === null ? 'n/a' : (n / 1048576).toFixed(1));
  const memRow = (name: string, pick: (m: FusionMemory) => number | null): string[] => {
    const b = pick(before);
    const a = pick(afterSnapshot);
    const s = pick(afterScan);
    const per = b === null || a === null ? 'n/a' : ((a - b) / entries).toFixed(1);
    return [name, mib(b), mib(a), mib(s), per];
  };
  const memory = [
    memRow('heap used', (m) => m.heap_used_bytes),
    memRow('RSS (VmRSS)', (m) => m.vm_rss_bytes),
  ];
  console.log(table(['Fusion memory', 'before MiB', 'after snapshot MiB', 'after scan MiB', 'bytes/entry'], memory));
  console.log(`\nmeasured: ${method}\n`);
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}

function log(message: string): void {
  process.stderr.write(`bench-scan: ${message}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench-scan: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
