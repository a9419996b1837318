/**
 * Fleet operations at scale: N simulated agents, labelled by an admin
 * (env ∈ {prod, staging}, region ∈ {eu, us, ap}). Measures
 *  - Fusion's own time for one page of 100 agents filtered by a selector
 *    (its Server-Timing), first pages and deep pages;
 *  - Fusion's event-loop delay p99 (prom-client's monitorEventLoopDelay
 *    gauge, reset by each scrape) while a web UI session — the requests the
 *    browser makes, replayed: the event stream, a row refetched per event about
 *    an agent on its page, the dashboard at most every 2 s — is open during a
 *    group fan-out and during a reconnect storm (every agent's socket dropped).
 */
import { BENCH_ENROLLMENT_TOKEN, BenchScope, until } from '../lib/bench-scope.js';
import type { FusionRun } from '../lib/fusion-runner.js';
import { createGroup, fleetTemplate, saveTemplate } from '../lib/group-api.js';
import { distribution, type Distribution } from '../lib/report.js';

export interface FleetOpsResult {
  n: number;
  /** Server time of a page of 100 by selector, ms: first pages and pages deep into the listing. */
  page_first: Distribution;
  page_deep: Distribution;
  /** Event-loop delay p99 (ms) while the UI session is open: idle, during the fan-out, during the storm. */
  loop_p99_idle_ms: number;
  loop_p99_fanout_ms: number;
  loop_p99_storm_ms: number;
  /** Requests the replayed UI made during the fan-out and the storm. */
  ui_requests: number;
  fanout_ms: number;
  storm_ms: number;
}

const SELECTOR = 'env=prod,region in (eu,us)';
const PAGE_SAMPLES = 40;

async function labelFleet(fusion: FusionRun, n: number): Promise<void> {
  const ids = Array.from({ length: n }, (_, i) => i);
  for (let start = 0; start < n; start += 50) {
    await Promise.all(
      ids.slice(start, start + 50).map(async (i) => {
        const res = await fusion.api(`/api/v1/management/agents/ops-${String(i).padStart(5, '0')}/labels`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ labels: { env: i % 2 ? 'staging' : 'prod', region: ['eu', 'us', 'ap'][i % 3] } }),
        });
        if (!res.ok) throw new Error(`labelling agent ${i}: HTTP ${res.status}`);
        await res.arrayBuffer();
      }),
    );
  }
}

/** Server-Timing `list;dur=` of one listing request, ms. */
async function pageTime(fusion: FusionRun, query: URLSearchParams): Promise<{ ms: number; next: string | null }> {
  const res = await fusion.api(`/api/v1/management/agents?${query}`);
  const timing = /list;dur=([\d.]+)/.exec(res.headers.get('server-timing') ?? '');
  const body = (await res.json()) as { next_cursor: string | null };
  if (!timing) throw new Error('the listing sent no Server-Timing');
  return { ms: Number(timing[1]), next: body.next_cursor };
}

async function loopP99(fusion: FusionRun): Promise<number> {
  const text = await (await fusion.api('/metrics')).text();
  const match = /^fusion_nodejs_eventloop_lag_p99_seconds ([\d.e+-]+)$/m.exec(text);
  if (!match) throw new Error('no event-loop p99 in /metrics');
  return Math.round(Number(match[1]) * 1000 * 10) / 10;
}

/** The web UI's traffic, replayed: the event stream, one row per event about an agent on the page, the dashboard at most every 2 s. */
function uiSession(fusion: FusionRun, adminToken: string): { stop: () => Promise<number> } {
  const abort = new AbortController();
  let requests = 0;
  let page = new Set<string>();
  let dashboardDue = 0;
  const get = async (path: string): Promise<unknown> => {
    requests++;
    const res = await fusion.api(path, { signal: abort.signal });
    return res.json();
  };
  const run = (async () => {
    const first = (await get('/api/v1/management/agents?limit=50')) as { agents: Array<{ agent_id: string }> };
    page = new Set(first.agents.map((a) => a.agent_id));
    const res = await fetch(`${fusion.url}/api/v1/management/events?access_token=${encodeURIComponent(adminToken)}`, { signal: abort.signal });
    const decoder = new TextDecoder();
    let buffered = '';
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      buffered += decoder.decode(chunk, { stream: true });
      let cut: number;
      while ((cut = buffered.indexOf('\n\n')) >= 0) {
        const message = buffered.slice(0, cut);
        buffered = buffered.slice(cut + 2);
        const data = /^data: (.*)$/m.exec(message)?.[1];
        if (!data) continue;
        const event = JSON.parse(data) as { type: string; data?: { agent_id?: string } };
        const id = event.data?.agent_id;
        if (id && page.has(id)) void get(`/api/v1/management/agents/${id}`).catch(() => undefined);
        if (Date.now() >= dashboardDue) {
          dashboardDue = Date.now() + 2000;
          void get('/api/v1/management/dashboard').catch(() => undefined);
        }
      }
    }
  })().catch(() => undefined);
  return {
    async stop() {
      abort.abort();
      await run;
      return requests;
    },
  };
}

export async function fleetOps(n: number): Promise<FleetOpsResult> {
  const startTimeout = 60_000 + n * 20;
  const scope = new BenchScope();
  try {
    const fusion = await scope.fusion();
    await createGroup(fusion, 'ops', fleetTemplate(300));
    const fleet = scope.fleet();
    await fleet.call('start', [{ url: fusion.url, token: BENCH_ENROLLMENT_TOKEN, count: n, prefix: 'ops-', group: 'ops', jitter: true }]);
    if ((await fleet.call('waitConnected', [n, startTimeout], startTimeout + 10_000)) < n) throw new Error('not every agent connected');
    await until('every agent runs the group config', startTimeout, async () => ((await fleet.call('snapshot', [])).applied >= n ? true : undefined), 250);
    await labelFleet(fusion, n);
    process.stdout.write(`fleet-ops n=${n}: ${n} agents connected, configured and labelled\n`);

    const first: number[] = [];
    const deep: number[] = [];
    for (let i = 0; i < PAGE_SAMPLES; i++) {
      const query = new URLSearchParams({ selector: SELECTOR, limit: '100' });
      const page = await pageTime(fusion, query);
      first.push(page.ms);
      // A page deeper in the listing: the first page's cursor followed up to five times (as far as the matches go).
      let cursor = page.next;
      let deepest: number | undefined;
      for (let hop = 0; hop < 5 && cursor; hop++) {
        const next = await pageTime(fusion, new URLSearchParams({ selector: SELECTOR, limit: '100', cursor }));
        deepest = next.ms;
        cursor = next.next;
      }
      if (deepest !== undefined) deep.push(deepest);
    }

    const ui = uiSession(fusion, fusion.options.adminToken);
    await loopP99(fusion);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const idle = await loopP99(fusion);

    const fanoutStart = Date.now();
    await saveTemplate(fusion, 'ops', fleetTemplate(301));
    await until('every agent runs the new template', startTimeout, async () => {
      const applied = await fleet.call('appliedSince', [fanoutStart]);
      return applied.length >= n ? true : undefined;
    }, 100);
    const fanoutMs = Date.now() - fanoutStart;
    const duringFanout = await loopP99(fusion);

    const stormStart = Date.now();
    await fleet.call('dropAll', []);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await until('every agent is back', startTimeout, async () => ((await fleet.call('snapshot', [])).connected >= n ? true : undefined), 100);
    const stormMs = Date.now() - stormStart;
    const duringStorm = await loopP99(fusion);
    const uiRequests = await ui.stop();

    const result: FleetOpsResult = {
      n,
      page_first: distribution(first),
      page_deep: distribution(deep),
      loop_p99_idle_ms: idle,
      loop_p99_fanout_ms: duringFanout,
      loop_p99_storm_ms: duringStorm,
      ui_requests: uiRequests,
      fanout_ms: fanoutMs,
      storm_ms: stormMs,
    };
    process.stdout.write(
      `  page of 100 by selector: first p50 ${result.page_first.p50} ms p99 ${result.page_first.p99} ms, deep p50 ${result.page_deep.p50} ms p99 ${result.page_deep.p99} ms\n` +
        `  loop p99: idle ${idle} ms, fan-out ${duringFanout} ms (${fanoutMs} ms), storm ${duringStorm} ms (${stormMs} ms); UI requests ${uiRequests}\n`,
    );
    return result;
  } finally {
    await scope.close();
  }
}
