/**
 * Fusion's start time: from spawning the process to its "Fusion listening"
 * log line, for what `npm start` runs (`node bin/fusion.js`: the esbuild
 * bundle dist/bin/fusion.cjs with its code cache), for tsc's output file by file
 * (`node dist/server/main.js`) and for the TypeScript sources through tsx
 * (`node --import tsx server/main.ts`).
 *
 *   npm run bench:start -- [--runs 10] [--restart]
 *
 * Each run starts on a fresh temporary home (the first start: it creates the
 * database and the tokens) and is stopped with SIGTERM once it listens. With
 * --restart, each mode keeps one home, started once before the timed runs, so
 * every timed run is a restart on a home with state (database, tokens, keys). Runs
 * alternate between the modes so a change in the machine's load hits each. A
 * last mode starts node on an empty program that prints the same line: the
 * part of every start that is Node's own.
 * Prints, per mode, the wall time (median, min, max) and the CPU time the
 * process used up to that point (user + system, from /proc), which a busy
 * machine does not inflate. Run `npm run build` first.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from './lib/child-rpc.js';
import { cpuSeconds, machineLoad } from './lib/proc-stats.js';
import { median, printTable } from './lib/report.js';

const MODES = {
  'bin/fusion.js (bundle)': ['bin/fusion.js'],
  'dist/server/main.js (tsc)': ['dist/server/main.js'],
  'tsx (sources)': ['--import', 'tsx', 'server/main.ts'],
  // Node itself starting and printing the same line: what no change to Fusion can save.
  'baseline: empty node': ['-e', 'process.stdout.write(\'{"msg":"Fusion listening"}\\n\'); setInterval(() => {}, 1000);', '--'],
} as const;

interface Sample {
  wallMs: number;
  cpuMs: number | null;
}

async function startOnce(args: readonly string[], keptHome?: string): Promise<Sample> {
  const home = keptHome ?? (await mkdtemp(path.join(os.tmpdir(), 'bench-start-')));
  try {
    const began = performance.now();
    const child = spawn(process.execPath, [...args, '--port', '0', '--home', home], {
      cwd: ROOT,
      env: { ...process.env, NODE_OPTIONS: '', FUSTOR_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let output = '';
    const wallMs = await new Promise<number>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('"msg":"Fusion listening"')) resolve(performance.now() - began);
      });
      child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.once('exit', (code) => reject(new Error(`fusion exited with ${code} before listening: ${output}`)));
    });
    const cpu = await cpuSeconds(child.pid!);
    child.kill('SIGTERM');
    await exited;
    return { wallMs, cpuMs: cpu === null ? null : cpu * 1000 };
  } finally {
    if (!keptHome) await rm(home, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' }, restart: { type: 'boolean', default: false } } });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive whole number');
  if (!existsSync(path.join(ROOT, 'dist', 'server', 'main.js'))) throw new Error('dist/ is missing: run npm run build first');
  const samples = new Map<string, Sample[]>(Object.keys(MODES).map((m) => [m, []]));
  const homes = new Map<string, string>();
  try {
    if (values.restart) {
      for (const [mode, args] of Object.entries(MODES)) {
        homes.set(mode, await mkdtemp(path.join(os.tmpdir(), 'bench-start-')));
        await startOnce(args, homes.get(mode));
      }
    }
    const loadBefore = machineLoad();
    for (let i = 0; i < runs; i++) {
      for (const [mode, args] of Object.entries(MODES)) samples.get(mode)!.push(await startOnce(args, homes.get(mode)));
    }
    report(samples, runs, values.restart ? 'a restart on a home with state' : 'a first start on a fresh home', loadBefore);
  } finally {
    for (const home of homes.values()) await rm(home, { recursive: true, force: true });
  }
}

function report(samples: Map<string, Sample[]>, runs: number, scenario: string, loadBefore: ReturnType<typeof machineLoad>): void {
  const round = (n: number): number => Math.round(n);
  printTable(
    `Fusion start to listening, ${scenario}, ${runs} runs per mode (${os.cpus().length} cores, Node ${process.version}, load ${loadBefore.load1} → ${machineLoad().load1})`,
    [...samples].map(([mode, list]) => {
      const wall = list.map((s) => s.wallMs);
      const cpu = list.flatMap((s) => (s.cpuMs === null ? [] : [s.cpuMs]));
      return {
        mode,
        'wall p50 ms': round(median(wall)),
        'wall min ms': round(Math.min(...wall)),
        'wall max ms': round(Math.max(...wall)),
        'cpu p50 ms': cpu.length ? round(median(cpu)) : null,
      };
    }),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
