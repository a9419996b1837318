/**
 * `npx tsx scripts/bench-secrets.ts [N...]`: what secrets cost.
 *
 * 1. Per call, in this process: finding the references of a typical config
 *    (the walk every config send makes), resolving them, and encrypting /
 *    decrypting one value (AES-256-GCM).
 * 2. A rotation reaching a fleet: a Fusion in this process whose one group
 *    template references a secret, N protocol clients (plain WebSockets, in
 *    this process too, so the figures include the clients' own work) that
 *    join the group in `hello`, run its config and ACK each frame; then the
 *    secret is rotated and the time from the PUT to each client's receipt of
 *    the new value is measured.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import WebSocket from 'ws';
import { FusionServer } from '../server/fusion-server.js';
import { SecretCipher } from '../server/secrets/secret-cipher.js';
import { resolveSecrets, secretNames } from '../shared/config/index.js';
import { AGENT_ID_HEADER, CONTROL_WS_PATH, PROTOCOL_VERSION, type FusionToAgentFrame } from '../shared/protocol/index.js';

const ADMIN = 'bench-admin-token-0123456789';
const ENROLL = 'bench-enrollment-token-0123456789';

function perCall(label: string, iterations: number, run: () => unknown): void {
  for (let i = 0; i < Math.min(iterations, 1000); i++) run();
  const start = performance.now();
  for (let i = 0; i < iterations; i++) run();
  const us = ((performance.now() - start) * 1000) / iterations;
  process.stdout.write(`  ${label.padEnd(52)} ${us.toFixed(2)} µs\n`);
}

function typicalConfig(): Record<string, unknown> {
  const config: Record<string, Record<string, unknown>> = { sources: {}, senders: {}, pipes: {} };
  for (let i = 0; i < 3; i++) {
    config.sources![`share-${i}`] = { driver: 'fs', uri: `/mnt/nfs/share-${i}`, disabled: false, driver_params: {} };
    config.senders![`fusion-${i}`] = { driver: 'fusion', uri: 'http://fusion:8102', credential: { key: '${secret:ingest-key}' }, disabled: false, driver_params: {} };
    config.pipes![`pipe-${i}`] = { source: `share-${i}`, sender: `fusion-${i}`, disabled: false, audit_interval_sec: 300 };
  }
  return config;
}

async function rotation(n: number): Promise<void> {
  const home = mkdtempSync(path.join(os.tmpdir(), 'bench-secrets-'));
  const fusion = new FusionServer({ home, port: 0, adminToken: ADMIN, enrollmentToken: ENROLL, logger: pino({ level: 'silent' }), agentMessageRate: { perSecond: 1e6, burst: 1e6 } });
  const { url } = await fusion.start();
  const api = (p: string, method: string, body: unknown) =>
    fetch(`${url}/api/v1/management${p}`, { method, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const sockets: WebSocket[] = [];
  try {
    await api('/secrets', 'POST', { name: 'ingest-key', value: 'v1' });
    const template = 'sources: { s: { driver: fs, uri: /data } }\nsenders: { f: { driver: fusion, uri: "http://fusion:8102", credential: { key: "${secret:ingest-key}" } } }\npipes: { p: { source: s, sender: f } }\n';
    const created = await api('/groups', 'POST', { name: 'fleet', template, self_join: true });
    if (created.status !== 201) throw new Error(`group: ${created.status} ${await created.text()}`);
    const received = new Array<number>(n).fill(0);
    let expected = 'v1';
    let pending = n;
    let done: () => void = () => undefined;
    for (let i = 0; i < n; i++) {
      const ws = new WebSocket(`${url.replace(/^http/, 'ws')}${CONTROL_WS_PATH}`, { headers: { authorization: `Bearer ${ENROLL}`, [AGENT_ID_HEADER]: `bench-${i}` } });
      sockets.push(ws);
      ws.on('message', (data) => {
        const frame = JSON.parse(String(data)) as FusionToAgentFrame;
        if (frame.type !== 'config') return;
        ws.send(JSON.stringify({ type: 'config_status', signature: frame.signature, revision: frame.revision, status: 'applied' }));
        if (frame.secrets?.['ingest-key'] === expected && received[i] === 0) {
          received[i] = performance.now();
          if (--pending === 0) done();
        }
      });
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => {
          ws.send(JSON.stringify({ type: 'hello', protocol_version: PROTOCOL_VERSION, agent_id: `bench-${i}`, agent_version: 'bench', group: 'fleet', config: { signature: null, revision: null, source: 'none' } }));
          resolve();
        });
        ws.once('error', reject);
      });
    }
    await new Promise<void>((resolve) => (pending === 0 ? resolve() : (done = resolve)));
    received.fill(0);
    pending = n;
    expected = 'v2';
    const finished = new Promise<void>((resolve) => (done = resolve));
    const start = performance.now();
    const put = await api('/secrets/ingest-key', 'PUT', { value: 'v2' });
    const putMs = performance.now() - start;
    if (put.status !== 200) throw new Error(`rotate: ${put.status}`);
    await finished;
    const times = received.map((t) => t - start).sort((a, b) => a - b);
    const at = (q: number): string => times[Math.min(times.length - 1, Math.floor(q * times.length))]!.toFixed(0);
    process.stdout.write(`  N=${String(n).padEnd(6)} rotate PUT ${putMs.toFixed(0)} ms · new value received p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, last ${at(1)} ms\n`);
  } finally {
    for (const ws of sockets) ws.terminate();
    await fusion.stop();
    rmSync(home, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
  process.stdout.write(`secrets benchmark · Node ${process.version} · ${os.cpus().length} cores · ${new Date().toISOString().slice(0, 10)}\n`);
  process.stdout.write('per call:\n');
  const config = typicalConfig();
  perCall('secretNames(typical 3-pipe config)', 100_000, () => secretNames(config));
  perCall('resolveSecrets(typical 3-pipe config, 1 secret)', 100_000, () => resolveSecrets(config, { 'ingest-key': 'k'.repeat(40) }));
  const home = mkdtempSync(path.join(os.tmpdir(), 'bench-cipher-'));
  try {
    const cipher = SecretCipher.open(home, {});
    const stored = cipher.encrypt('ingest-key', 'k'.repeat(40));
    perCall('encrypt (AES-256-GCM, 40-byte value)', 50_000, () => cipher.encrypt('ingest-key', 'k'.repeat(40)));
    perCall('decrypt (AES-256-GCM, 40-byte value)', 50_000, () => cipher.decrypt('ingest-key', stored));
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
  process.stdout.write('rotation reaching a group (Fusion and clients in one process):\n');
  for (const n of sizes.length ? sizes : [100, 1000]) await rotation(n);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench-secrets: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
