/**
 * `npx tsx scripts/bench-enroll.ts [--agents 400]`: times enrollment, where
 * each credential is committed in its own transaction before `welcome`
 * carries it. Starts Fusion in this process (temporary home, loopback), then
 * `--agents` raw WebSocket clients dial with the enrollment token at once and
 * say hello; prints enrollments per second and the hello → welcome latency,
 * then the same for HTTP enrollment (`POST /api/v1/control/enroll`), and for
 * scale a credential-checked pull and an unauthenticated health check
 * (requests per second in the same column).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import WebSocket from 'ws';
import { AGENT_ID_HEADER, CONTROL_WS_PATH, PROTOCOL_VERSION } from '../shared/protocol/index.js';
import { FusionServer } from '../server/fusion-server.js';

const TOKEN = 'bench-enrollment-token-0123456789abcdef';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

function socketEnrol(url: string, id: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}${CONTROL_WS_PATH}`, { headers: { authorization: `Bearer ${TOKEN}`, [AGENT_ID_HEADER]: id } });
    let sentAt = 0;
    ws.once('open', () => {
      sentAt = performance.now();
      ws.send(JSON.stringify({ type: 'hello', protocol_version: PROTOCOL_VERSION, agent_id: id, agent_version: '0.0.0', hostname: 'bench', capabilities: [], config: { signature: null, revision: null, source: 'none' } }));
    });
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as { type: string; credential?: string };
      if (frame.type !== 'welcome') return;
      ws.terminate();
      if (!frame.credential) reject(new Error(`${id}: welcome without a credential`));
      else resolve(performance.now() - sentAt);
    });
    ws.once('error', reject);
  });
}

const credentials = new Map<string, string>();

async function httpEnrol(url: string, id: string): Promise<number> {
  const started = performance.now();
  const res = await fetch(`${url}/api/v1/control/enroll`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ agent_id: id }),
  });
  if (res.status !== 201) throw new Error(`${id}: ${res.status}`);
  credentials.set(id, ((await res.json()) as { credential: string }).credential);
  return performance.now() - started;
}

/** For scale: a pull by an enrolled agent (its credential checked, 404: no config) and an unauthenticated health check. */
async function timed(url: string, headers: Record<string, string> = {}): Promise<number> {
  const started = performance.now();
  const res = await fetch(url, { headers });
  await res.arrayBuffer();
  return performance.now() - started;
}

async function measure(label: string, agents: number, enrol: (id: string) => Promise<number>): Promise<void> {
  const started = performance.now();
  const latencies = (await Promise.all(Array.from({ length: agents }, (_, i) => enrol(`${label}-${i}`)))).sort((a, b) => a - b);
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `${label.padEnd(6)} ${String(agents).padStart(5)} agents  ${(agents / seconds).toFixed(0).padStart(6)} per second  ` +
      `latency p50 ${percentile(latencies, 50).toFixed(1)} ms  p99 ${percentile(latencies, 99).toFixed(1)} ms  max ${latencies.at(-1)!.toFixed(1)} ms`,
  );
}

const { values } = parseArgs({ options: { agents: { type: 'string', default: '400' } } });
const agents = Number(values.agents);
const home = await mkdtemp(join(tmpdir(), 'bench-enroll-'));
const fusion = new FusionServer({ home, port: 0, enrollmentToken: TOKEN, failedAuthLimits: { max: 1_000_000, windowMs: 60_000 }, logger: pino({ level: 'silent' }) });
try {
  const { url } = await fusion.start();
  await measure('socket', agents, (id) => socketEnrol(url, id));
  await measure('http', agents, (id) => httpEnrol(url, id));
  await measure('pull', agents, (id) => timed(`${url}/api/v1/control/configs/pull?agent_id=${id.replace('pull', 'http')}`, { authorization: `Bearer ${credentials.get(id.replace('pull', 'http'))}` }));
  await measure('health', agents, () => timed(`${url}/healthz`));
} finally {
  await fusion.stop();
  await rm(home, { recursive: true, force: true });
}
