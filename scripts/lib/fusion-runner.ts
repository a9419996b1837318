import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import WebSocket from 'ws';
import { ROOT } from './child-rpc.js';
import { cpuSeconds, rssBytes, type NodeMemory } from './proc-stats.js';

export interface FusionRunOptions {
  home: string;
  port: number;
  adminToken: string;
  enrollmentToken: string;
  /** FUSION_HEARTBEAT_MS; Fusion's default (15 s) when absent. */
  heartbeatMs?: number;
  /** FUSION_SHUTDOWN_RETRY_MS; Fusion's default (1 s) when absent. */
  shutdownRetryMs?: number;
  /** Run with --expose-gc and an inspector on 127.0.0.1, so {@link FusionRun.memory} can measure inside. */
  inspect?: boolean;
  /** Fusion's stdout and stderr are appended here (a file, as in production, not a pipe the benchmark must drain). */
  logFile: string;
  /** FUSION_DATABASE_URL: keep the state in this PostgreSQL database instead of the home's fusion.db. */
  databaseUrl?: string;
  /** FUSTOR_LOG_LEVEL, default info. */
  logLevel?: string;
  /** More environment for Fusion (e.g. FUSION_REPLICA_ID, FUSION_SECRET_KEY of a replica). */
  env?: Record<string, string>;
  /** More node options before the script, e.g. `--cpu-prof` (FUSTOR_BENCH_FUSION_NODE_ARGS, space-separated). */
  nodeArgs?: string[];
}

/** A free TCP port on 127.0.0.1 (bound and released). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Fusion as operators run it (`node --import tsx server/main.ts --port P --home H`),
 * in a child process on loopback, seeded with known tokens. Ready once
 * `/healthz` answers. Its CPU time and memory are read from /proc and, with
 * `inspect`, from inside the process after a full garbage collection.
 */
export class FusionRun {
  readonly url: string;
  private inspectorUrl = '';

  private constructor(
    readonly options: FusionRunOptions,
    private readonly child: ChildProcess,
  ) {
    this.url = `http://127.0.0.1:${options.port}`;
  }

  static async start(options: FusionRunOptions, timeoutMs = 60_000): Promise<FusionRun> {
    const log = openSync(options.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(
        process.execPath,
        [...(options.nodeArgs ?? []), ...(options.inspect ? ['--expose-gc', '--inspect=127.0.0.1:0'] : []), '--import', 'tsx', 'server/main.ts', '--host', '127.0.0.1', '--port', String(options.port), '--home', options.home],
        {
          cwd: ROOT,
          env: {
            ...process.env,
            FUSION_ADMIN_TOKEN: options.adminToken,
            FUSION_ENROLLMENT_TOKEN: options.enrollmentToken,
            FUSTOR_LOG_LEVEL: options.logLevel ?? 'info',
            ...(options.heartbeatMs !== undefined && { FUSION_HEARTBEAT_MS: String(options.heartbeatMs) }),
            ...(options.databaseUrl !== undefined && { FUSION_DATABASE_URL: options.databaseUrl }),
            ...(options.shutdownRetryMs !== undefined && { FUSION_SHUTDOWN_RETRY_MS: String(options.shutdownRetryMs) }),
            // The simulated fleet dials from one address, a real one from as many as it has hosts:
            // the per-address limit on sockets waiting for hello would otherwise throttle the whole fleet.
            FUSION_MAX_PENDING_PER_ADDRESS: process.env.FUSION_MAX_PENDING_PER_ADDRESS ?? '100000',
            ...options.env,
          },
          stdio: ['ignore', log, log],
        },
      );
    } finally {
      closeSync(log);
    }
    const run = new FusionRun(options, child);
    try {
      await run.waitReady(timeoutMs);
    } catch (err) {
      await run.stop(1000);
      throw err;
    }
    return run;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** fetch against Fusion with the admin token. */
  api(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${this.options.adminToken}`);
    return fetch(`${this.url}${path}`, { ...init, headers });
  }

  /** User + system CPU seconds Fusion has used so far. */
  async cpuSeconds(): Promise<number> {
    const s = await cpuSeconds(this.pid);
    if (s === null) throw new Error('cannot read Fusion CPU time from /proc');
    return s;
  }

  /** Fusion's memory measured inside it after two full collections (needs `inspect`), with VmRSS from /proc. */
  async memory(): Promise<NodeMemory & { vmRss: number | null }> {
    if (!this.inspectorUrl) throw new Error('Fusion was started without inspect');
    const text = await this.evaluate('(() => { gc(); gc(); return JSON.stringify(process.memoryUsage()); })()');
    const m = JSON.parse(text) as NodeJS.MemoryUsage;
    return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, collected: true, vmRss: await rssBytes(this.pid) };
  }

  /** The tail of Fusion's log, for a failure report. */
  async logTail(chars = 4000): Promise<string> {
    const text = await readFile(this.options.logFile, 'utf8').catch(() => '');
    return text.slice(-chars);
  }

  /** SIGKILL (a crash: no reconnect hints, sockets reset); resolves once it exited. */
  async kill(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await gone;
  }

  /** SIGTERM (Fusion's planned shutdown: reconnect hints, then close), SIGKILL after `graceMs`. Resolves once it exited. */
  async stop(graceMs = 30_000): Promise<void> {
    if (this.exited) return;
    const gone = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await gone;
    clearTimeout(timer);
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.exited) throw new Error(`Fusion exited during start-up:\n${await this.logTail()}`);
      if (Date.now() > deadline) throw new Error(`Fusion did not become ready within ${timeoutMs} ms:\n${await this.logTail()}`);
      if (this.options.inspect && !this.inspectorUrl) {
        const match = /Debugger listening on (ws:\/\/\S+)/g;
        const text = await this.logTail(1_000_000);
        let last: RegExpExecArray | null = null;
        for (let m = match.exec(text); m; m = match.exec(text)) last = m;
        this.inspectorUrl = last?.[1] ?? '';
      }
      const healthy = await fetch(`${this.url}/healthz`).then(
        (res) => res.ok,
        () => false,
      );
      if (healthy && (!this.options.inspect || this.inspectorUrl)) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Evaluates `expression` in Fusion over one short inspector session; resolves with its string value. */
  private evaluate(expression: string, timeoutMs = 60_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(this.inspectorUrl);
      const finish = (err: Error | null, value?: string): void => {
        clearTimeout(timer);
        socket.removeAllListeners();
        socket.on('error', () => undefined);
        socket.close();
        if (err) reject(err);
        else resolve(value!);
      };
      const timer = setTimeout(() => finish(new Error('the inspector did not answer in time')), timeoutMs);
      socket.on('error', (err) => finish(err));
      socket.on('open', () => socket.send(JSON.stringify({ id: 1, method: 'Runtime.evaluate', params: { expression, returnByValue: true } })));
      socket.on('message', (data: WebSocket.RawData) => {
        const message = JSON.parse(data.toString()) as { id?: number; result?: { result?: { value?: unknown }; exceptionDetails?: { text?: string } } };
        if (message.id !== 1) return;
        const value = message.result?.result?.value;
        if (typeof value === 'string') finish(null, value);
        else finish(new Error(`inspector evaluation failed: ${message.result?.exceptionDetails?.text ?? JSON.stringify(message)}`));
      });
    });
  }
}
