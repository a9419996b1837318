/**
 * Preview: N simulated agents (another process) connected to a Fusion (its
 * own process, fresh home) in one group whose template names each agent in a
 * path, so every member's document differs. Each round times, over HTTP:
 * a dry run of a template change answering the first page (100 agents with
 * their patch and YAML diff) and complete counts; the same with
 * `details=false` (counts and batches only); a page of 1,000 changed agents
 * with diffs — each round a change Fusion has not previewed before, so every
 * member is rendered; the next page of one change already previewed (what
 * paging through a preview costs); a member's variables change previewed;
 * and, for comparison, the real save of the same change (render, validate,
 * store, push). Each dry run is checked to have stored nothing. While each
 * request runs, `/healthz` is asked every 25 ms: its slowest answer shows
 * how long the preview held the event loop.
 */
import { BENCH_ENROLLMENT_TOKEN, BenchScope, sleep, until } from '../lib/bench-scope.js';
import type { FusionRun } from '../lib/fusion-runner.js';
import { createGroup, fleetTemplate, saveTemplate } from '../lib/group-api.js';
import { median } from '../lib/report.js';

export interface PreviewCase {
  name: string;
  /** HTTP round trip per measured round, ms. */
  rounds_ms: number[];
  median_ms: number;
  max_ms: number;
  /** Fusion's CPU time per request (median of the rounds), s: less swayed by other load on the machine than the wall time. */
  fusion_cpu_s: number;
  /** Size of the answer, bytes (last round). */
  bytes: number;
  /** Slowest `/healthz` answer while the request ran (median over the rounds), ms. */
  healthz_max_ms: number;
}

export interface PreviewResult {
  n: number;
  cases: PreviewCase[];
}

const GROUP = 'bench';
const REQUEST_TIMEOUT_MS = 120_000;

/** How often, and at most how many times per request, `/healthz` is asked while a measured request runs. */
const PROBE_EVERY_MS = 25;
const MAX_PROBES = 4000;

async function timed(fusion: FusionRun, path: string, init: RequestInit): Promise<{ ms: number; cpu: number; bytes: number; body: any; healthzMaxMs: number }> {
  const cpu0 = await fusion.cpuSeconds();
  let running = true;
  const probes = (async () => {
    let slowest = 0;
    for (let i = 0; running && i < MAX_PROBES; i++) {
      const t = performance.now();
      // A probe that fails (a socket reset under load) still tells how long it waited; it does not end the run.
      await fetch(`${fusion.url}/healthz`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) }).then((r) => r.arrayBuffer()).catch(() => undefined);
      slowest = Math.max(slowest, performance.now() - t);
      await sleep(PROBE_EVERY_MS);
    }
    return slowest;
  })();
  const t0 = performance.now();
  let res: Response;
  let text: string;
  try {
    // Bounded like every wait here: a preview that never answers fails the run instead of stalling it.
    res = await fusion.api(path, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    text = await res.text();
  } finally {
    running = false;
  }
  const ms = performance.now() - t0;
  const healthzMaxMs = await probes;
  const cpu = (await fusion.cpuSeconds()) - cpu0;
  if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return { ms: Number(ms.toFixed(1)), cpu: Number(cpu.toFixed(2)), bytes: Buffer.byteLength(text), body: JSON.parse(text), healthzMaxMs: Number(healthzMaxMs.toFixed(1)) };
}

export async function preview(n: number, rounds: number): Promise<PreviewResult> {
  const startTimeout = 60_000 + n * 40;
  const scope = new BenchScope();
  try {
    const fusion = await scope.fusion();
    await createGroup(fusion, GROUP, fleetTemplate(300));
    const fleet = scope.fleet();
    await fleet.call('start', [{ url: fusion.url, token: BENCH_ENROLLMENT_TOKEN, count: n, prefix: 'pre-', group: GROUP }]);
    const connected = await fleet.call('waitConnected', [n, startTimeout], startTimeout + 10_000);
    if (connected < n) throw new Error(`only ${connected} of ${n} agents connected`);
    await until('every agent runs the group config', startTimeout, async () => ((await fleet.call('snapshot', [])).applied >= n ? true : undefined), 250);
    process.stdout.write(`preview n=${n}: ${n} agents connected and configured\n`);

    const template = (audit: number): RequestInit => ({
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ template: fleetTemplate(audit), rollout: { strategy: 'batches', percent: 10 } }),
    });
    const member = `/api/v1/management/groups/${GROUP}/members/pre-00001`;
    const templatePath = `/api/v1/management/groups/${GROUP}/template?dry_run=true`;
    const cases: Array<{ name: string; path: string; init: (round: number) => RequestInit; check?: (body: any) => void }> = [
      {
        name: 'template dry run, page of 100 with diffs',
        path: templatePath,
        init: (round) => template(900 + round),
        check: (b) => {
          if (b.counts.total !== n || b.counts.changed !== n || b.agents.length !== 100 || !b.agents[0].diff) throw new Error(`unexpected preview: ${JSON.stringify(b.counts)}`);
        },
      },
      { name: 'template dry run, counts only', path: `${templatePath}&details=false&limit=1`, init: (round) => template(2000 + round) },
      { name: 'template dry run, 1,000 changed with diffs', path: `${templatePath}&filter=changed&limit=1000`, init: (round) => template(3000 + round) },
      {
        name: 'next page of a change already previewed',
        path: `${templatePath}&offset=100`,
        init: () => template(4000),
        check: (b) => {
          if (b.counts.total !== n || b.agents.length !== 100 || b.agents[0].agent_id !== 'pre-00100' || !b.agents[0].diff) throw new Error(`unexpected page: ${JSON.stringify(b.counts)}`);
        },
      },
      {
        name: 'member variables dry run',
        path: `${member}?dry_run=true`,
        init: () => ({ method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ variables: { zone: 'b' } }) }),
      },
    ];
    const results: PreviewCase[] = [];
    for (const c of cases) {
      const times: number[] = [];
      const cpus: number[] = [];
      const stalls: number[] = [];
      let bytes = 0;
      for (let round = 0; round <= rounds; round++) {
        await sleep(300);
        const { ms, cpu, bytes: size, body, healthzMaxMs } = await timed(fusion, c.path, c.init(round));
        c.check?.(body);
        process.stdout.write(`  ${c.name} round ${round}${round === 0 ? ' (warm-up)' : ''}: ${ms} ms, Fusion CPU ${cpu} s, ${size} bytes, slowest /healthz ${healthzMaxMs} ms\n`);
        if (round > 0) {
          times.push(ms);
          cpus.push(cpu);
          stalls.push(healthzMaxMs);
        }
        bytes = size;
      }
      results.push({ name: c.name, rounds_ms: times, median_ms: median(times), max_ms: Math.max(...times), fusion_cpu_s: median(cpus), bytes, healthz_max_ms: median(stalls) });
    }
    const group = (await (await fusion.api(`/api/v1/management/groups/${GROUP}`)).json()) as { revision: number };
    if (group.revision !== 1) throw new Error(`a dry run stored a revision (group at ${group.revision})`);

    // The real save of the same change, for comparison (each round a new change, so each stores and pushes N configs).
    const saves: number[] = [];
    const saveCpus: number[] = [];
    for (let round = 0; round <= rounds; round++) {
      await sleep(1500);
      const cpu0 = await fusion.cpuSeconds();
      const t0 = performance.now();
      await saveTemplate(fusion, GROUP, fleetTemplate(1000 + round));
      const ms = Number((performance.now() - t0).toFixed(1));
      const cpu = Number(((await fusion.cpuSeconds()) - cpu0).toFixed(2));
      process.stdout.write(`  real save round ${round}${round === 0 ? ' (warm-up)' : ''}: ${ms} ms, Fusion CPU ${cpu} s\n`);
      if (round > 0) {
        saves.push(ms);
        saveCpus.push(cpu);
      }
    }
    results.push({ name: 'real save (stores and pushes)', rounds_ms: saves, median_ms: median(saves), max_ms: Math.max(...saves), fusion_cpu_s: median(saveCpus), bytes: 0, healthz_max_ms: 0 });
    return { n, cases: results };
  } finally {
    await scope.close();
  }
}
