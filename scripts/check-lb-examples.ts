/**
 * `node --import tsx --conditions=fustor-source scripts/check-lb-examples.ts`:
 * runs the HAProxy and nginx examples of docs/operations.md ("HA deployment:
 * load balancer") as written, in front of two real Fusions, and checks what
 * the section promises: `/healthz` through the balancer, a WebSocket agent
 * that keeps one session across several heartbeats, a polling agent, and a
 * new agent that still connects once one replica is stopped. The two Fusions
 * use their own SQLite files (so each agent enrols with the shared test
 * enrollment token on whichever it reaches); the check is the proxying, not
 * the shared store. A balancer whose binary is not installed is reported and
 * skipped; exits 1 when a present one fails.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually } from '../test/harness/eventually.js';
import { startFusion } from '../test/harness/fusion.js';
import { startAgent } from '../test/harness/start-agent.js';

const DOC = fileURLToPath(new URL('../docs/operations.md', import.meta.url));
const HEARTBEAT_MS = 1000;

/** The section's two fenced blocks: HAProxy first, nginx second. */
function examples(): { haproxy: string; nginx: string } {
  const text = readFileSync(DOC, 'utf8');
  const section = text.slice(text.indexOf('## HA deployment: load balancer'));
  const blocks = [...section.matchAll(/```\n([\s\S]*?)```/g)].map((m) => m[1]!);
  if (blocks.length < 2) throw new Error('docs/operations.md: the HA section lost its HAProxy and nginx examples');
  return { haproxy: blocks[0]!, nginx: blocks[1]! };
}

function installed(binary: string): boolean {
  try {
    execFileSync(binary, ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function check(kind: 'haproxy' | 'nginx', template: string, dir: string, port: number): Promise<void> {
  const a = await startFusion({ heartbeatIntervalMs: HEARTBEAT_MS });
  const b = await startFusion({ heartbeatIntervalMs: HEARTBEAT_MS });
  // The example's addresses become the two Fusions; its third replica is left out.
  const conf = template
    .replace(/10\.0\.0\.11:8102/g, `127.0.0.1:${new URL(a.url).port}`)
    .replace(/10\.0\.0\.12:8102/g, `127.0.0.1:${new URL(b.url).port}`)
    .replace(/^.*10\.0\.0\.13:8102.*\n/m, '')
    .replace('bind :8102', `bind 127.0.0.1:${port}`)
    .replace('listen 8102;', `listen 127.0.0.1:${port};`);
  let child: ChildProcess;
  if (kind === 'haproxy') {
    const file = path.join(dir, 'haproxy.cfg');
    writeFileSync(file, conf);
    execFileSync('haproxy', ['-c', '-q', '-f', file], { stdio: 'inherit' });
    child = spawn('haproxy', ['-db', '-f', file], { stdio: 'ignore' });
  } else {
    const file = path.join(dir, 'nginx.conf');
    const temp = `client_body_temp_path ${dir}; proxy_temp_path ${dir};`;
    writeFileSync(file, `pid ${dir}/nginx.pid; error_log ${dir}/nginx-error.log; events {}\nhttp { access_log off; ${temp}\n${conf}\n}\n`);
    execFileSync('nginx', ['-q', '-t', '-c', file, '-p', dir], { stdio: 'inherit' });
    child = spawn('nginx', ['-c', file, '-p', dir, '-g', 'daemon off;'], { stdio: 'ignore' });
  }
  const lb = { url: `http://127.0.0.1:${port}`, enrollmentToken: a.enrollmentToken };
  const agents: Array<{ stop(): Promise<void> }> = [];
  try {
    await eventually(async () => (await fetch(`${lb.url}/healthz`).catch(() => null))?.status === 200, { message: `${kind}: /healthz through the balancer` });
    const ws = await startAgent(lb, { agentId: `${kind}-ws` });
    agents.push(ws);
    await eventually(() => ws.agent.snapshot().connected, { message: `${kind}: a WebSocket agent connects` });
    const session = ws.agent.snapshot().sessionId;
    await new Promise((resolve) => setTimeout(resolve, 4 * HEARTBEAT_MS));
    if (!ws.agent.snapshot().connected || ws.agent.snapshot().sessionId !== session) throw new Error(`${kind}: the WebSocket did not survive 4 heartbeats`);
    const poll = await startAgent(lb, { agentId: `${kind}-poll`, transport: 'poll', pollIntervalSec: 0.2 });
    agents.push(poll);
    await eventually(() => poll.agent.snapshot().connected, { message: `${kind}: a polling agent is answered` });
    await a.stop();
    const late = await startAgent(lb, { agentId: `${kind}-late` });
    agents.push(late);
    await eventually(() => late.agent.snapshot().connected, { timeoutMs: 20_000, message: `${kind}: an agent connects with one replica stopped` });
    console.log(`${kind}: ok`);
  } finally {
    await Promise.all(agents.map((agent) => agent.stop()));
    child.kill('SIGTERM');
    await a.stop().catch(() => undefined);
    await b.stop();
  }
}

const docs = examples();
const dir = mkdtempSync(path.join(os.tmpdir(), 'lb-examples-'));
let failed = false;
try {
  for (const [kind, port] of [['haproxy', 18_102], ['nginx', 18_103]] as const) {
    if (!installed(kind)) {
      console.log(`${kind}: not installed, skipped`);
      continue;
    }
    try {
      await check(kind, docs[kind], dir, port);
    } catch (err) {
      failed = true;
      console.error(`${kind}: FAILED: ${(err as Error).message}`);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
