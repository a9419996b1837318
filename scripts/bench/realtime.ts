/**
 * Realtime: how long a change on disk takes to reach the view. One agent (its
 * own process, as operators run it) watches a tree through one pipe with
 * audits out of the way; Fusion runs as a child process. N files are created,
 * then modified (new size), then deleted, each burst written as fast as
 * synchronous calls go; then a directory of N files is renamed. The view is
 * polled every few milliseconds; a change's latency runs from the call that
 * made it returning to the poll answer that first shows it.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { BENCH_ENROLLMENT_TOKEN, BenchScope, sleep, until } from '../lib/bench-scope.js';
import { ROOT } from '../lib/child-rpc.js';
import { receiverKey, waitForSnapshot } from '../lib/dataplane-rig.js';
import type { FusionRun } from '../lib/fusion-runner.js';
import { distribution, type Distribution } from '../lib/report.js';

const AGENT_ID = 'bench-realtime';
/** Poll period of the view, ms: the resolution of every figure. */
const POLL_MS = 10;
/** Longest a phase may take before the benchmark gives up, ms. */
const PHASE_TIMEOUT_MS = 60_000;

export interface RealtimePhase {
  phase: string;
  changes: number;
  /** Call returned → view shows it, ms. */
  latency: Distribution;
}

export interface RealtimeResult {
  n: number;
  poll_ms: number;
  phases: RealtimePhase[];
  /** The rename of a directory of N files: call returned → view shows all of them under the new name and none under the old, ms. */
  rename_ms: number;
}

type Listing = Map<string, number>;

export async function realtime(n: number): Promise<RealtimeResult> {
  const scope = new BenchScope();
  try {
    const work = await scope.tempDir('bench-realtime-');
    const tree = path.join(work, 'tree');
    await mkdir(path.join(tree, 'work'), { recursive: true });
    await mkdir(path.join(tree, 'before'));
    await Promise.all(Array.from({ length: n }, (_, i) => writeFile(path.join(tree, 'before', `r${i}.txt`), 'r')));
    const fusion = await scope.fusion();
    const key = await receiverKey(fusion.options.home);
    const saved = await fusion.api(`/api/v1/management/agents/${AGENT_ID}/config/structured`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        sources: { tree: { driver: 'fs', uri: tree } },
        senders: { fusion: { driver: 'fusion', uri: fusion.url, credential: { key } } },
        pipes: { live: { source: 'tree', sender: 'fusion', audit_interval_sec: 31 * 24 * 3600 } },
      }),
    });
    if (!saved.ok) throw new Error(`saving the agent config: HTTP ${saved.status} ${await saved.text()}`);
    await startAgent(scope, path.join(work, 'agent'), fusion);
    await waitForSnapshot(fusion.url, key, () => undefined);
    await until('realtime on', PHASE_TIMEOUT_MS, async () => {
      const res = await fusion.api(`/api/v1/management/agents/${AGENT_ID}`);
      const body = (await res.json()) as { pipes?: Array<{ realtime?: { state: string } }> };
      return body.pipes?.[0]?.realtime?.state === 'on' ? true : undefined;
    });

    const view = (p: string) => viewListing(fusion.url, key, p);
    const names = Array.from({ length: n }, (_, i) => `f${i}.txt`);
    const phases: RealtimePhase[] = [];
    phases.push(await timed('create', names, view, (name) => writeFileSync(path.join(tree, 'work', name), 'x'), (listing, name) => listing.get(name) === 1));
    phases.push(await timed('modify', names, view, (name) => writeFileSync(path.join(tree, 'work', name), 'xyz'), (listing, name) => listing.get(name) === 3));
    phases.push(await timed('delete', names, view, (name) => rmSync(path.join(tree, 'work', name)), (listing, name) => !listing.has(name)));

    renameSync(path.join(tree, 'before'), path.join(tree, 'after'));
    const renamed = Date.now();
    await until('the renamed directory', PHASE_TIMEOUT_MS, async () => {
      const [after, before] = await Promise.all([view('after'), view('before')]);
      return after.size === n && before.size === 0 ? true : undefined;
    }, POLL_MS);
    return { n, poll_ms: POLL_MS, phases, rename_ms: Date.now() - renamed };
  } finally {
    await scope.close();
  }
}

/** Makes every change (timing each), then polls the view until each shows; the latency of each. */
async function timed(
  phase: string,
  names: string[],
  view: (dir: string) => Promise<Listing>,
  change: (name: string) => void,
  shows: (listing: Listing, name: string) => boolean,
): Promise<RealtimePhase> {
  const madeAt = new Map<string, number>();
  for (const name of names) {
    change(name);
    madeAt.set(name, Date.now());
  }
  const latencies: number[] = [];
  const deadline = Date.now() + PHASE_TIMEOUT_MS;
  while (madeAt.size > 0) {
    if (Date.now() > deadline) throw new Error(`${phase}: ${madeAt.size} changes never reached the view`);
    const listing = await view('work');
    const at = Date.now();
    for (const [name, made] of madeAt) {
      if (!shows(listing, name)) continue;
      latencies.push(at - made);
      madeAt.delete(name);
    }
    if (madeAt.size > 0) await sleep(POLL_MS);
  }
  process.stdout.write(`${phase}: ${names.length} changes seen\n`);
  return { phase, changes: names.length, latency: distribution(latencies) };
}

/** The files directly in `dir` of the view, with their sizes (empty when the directory is not there). */
async function viewListing(base: string, key: string, dir: string): Promise<Listing> {
  const res = await fetch(`${base}/api/v1/views/default/tree?path=${encodeURIComponent(dir)}`, { headers: { 'x-api-key': key } });
  if (res.status === 404) {
    await res.arrayBuffer();
    return new Map();
  }
  if (!res.ok) throw new Error(`view query: HTTP ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { children?: Array<{ name: string; size: number }> };
  return new Map((body.children ?? []).map((c) => [c.name, c.size]));
}

/** The `fustor-agent` CLI in a child process, enrolled with the bench token. */
async function startAgent(scope: BenchScope, home: string, fusion: FusionRun): Promise<void> {
  mkdirSync(home, { recursive: true });
  const bootstrap = { agent_id: AGENT_ID, control_plane_uri: fusion.url, auth_token: BENCH_ENROLLMENT_TOKEN };
  await writeFile(path.join(home, 'bootstrap.yaml'), YAML.stringify(bootstrap), { mode: 0o600 });
  const child = spawn(process.execPath, ['--import', 'tsx', 'agent/main.ts', '--home', home, '--log-level', 'warn'], {
    cwd: ROOT,
    env: { ...process.env, FUSTOR_HOME: home },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  scope.defer(`stop agent ${child.pid}`, async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await gone;
  });
}
