import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Fusion's memory as measured in its own process. */
export interface FusionMemory {
  /** VmRSS from /proc/<pid>/status (Linux); null where /proc is missing. */
  vm_rss_bytes: number | null;
  /** process.memoryUsage() inside Fusion, after two full garbage collections. */
  rss_bytes: number;
  heap_used_bytes: number;
  heap_total_bytes: number;
  external_bytes: number;
  array_buffers_bytes: number;
}

export interface FusionChildOptions {
  home: string;
  adminToken: string;
  enrollmentToken: string;
}

/**
 * Fusion (`server/main.ts`) in a child process on a loopback port, run with
 * `--expose-gc` and an inspector bound to 127.0.0.1 on a free port. The
 * benchmark measures memory through that inspector: it runs `gc()` and reads
 * `process.memoryUsage()` inside Fusion, so the figures are Fusion's alone.
 */
export class FusionChild {
  private output = '';
  url = '';
  private inspectorUrl = '';

  private constructor(private readonly child: ChildProcess) {
    const keep = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString('utf8')).slice(-262_144);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
  }

  static async start(options: FusionChildOptions, timeoutMs = 60_000): Promise<FusionChild> {
    const child = spawn(
      process.execPath,
      ['--expose-gc', '--inspect=127.0.0.1:0', '--import', 'tsx', 'server/main.ts', '--host', '127.0.0.1', '--port', '0', '--home', options.home],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          FUSION_ADMIN_TOKEN: options.adminToken,
          FUSION_ENROLLMENT_TOKEN: options.enrollmentToken,
          FUSTOR_LOG_LEVEL: 'info',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const fusion = new FusionChild(child);
    try {
      const deadline = Date.now() + timeoutMs;
      while (!fusion.url || !fusion.inspectorUrl) {
        if (fusion.exited) throw new Error(`fusion exited (${child.exitCode ?? child.signalCode}): ${fusion.output}`);
        if (Date.now() > deadline) throw new Error(`fusion did not start within ${timeoutMs} ms: ${fusion.output}`);
        fusion.url ||= /"url":"(http:\/\/[^"]+)"/.exec(fusion.output)?.[1] ?? '';
        fusion.inspectorUrl ||= /Debugger listening on (ws:\/\/\S+)/.exec(fusion.output)?.[1] ?? '';
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } catch (err) {
      await fusion.stop();
      throw err;
    }
    return fusion;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** Collects garbage in Fusion, then reads its memory. */
  async memory(): Promise<FusionMemory> {
    const text = await this.evaluate('(() => { gc(); gc(); return JSON.stringify(process.memoryUsage()); })()');
    const usage = JSON.parse(text) as NodeJS.MemoryUsage;
    return {
      vm_rss_bytes: await vmRss(this.pid),
      rss_bytes: usage.rss,
      heap_used_bytes: usage.heapUsed,
      heap_total_bytes: usage.heapTotal,
      external_bytes: usage.external,
      array_buffers_bytes: usage.arrayBuffers,
    };
  }

  /** SIGTERM (Fusion's clean shutdown), SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.exited) return;
    const gone = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await gone;
    clearTimeout(timer);
  }

  /** Evaluates `expression` in Fusion's main context over one short inspector session; resolves with its string value. */
  private evaluate(expression: string, timeoutMs = 30_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(this.inspectorUrl);
      const timer = setTimeout(() => finish(new Error('the inspector did not answer in time')), timeoutMs);
      const finish = (err: Error | null, value?: string): void => {
        clearTimeout(timer);
        socket.removeAllListeners();
        socket.on('error', () => undefined);
        socket.close();
        if (err) reject(err);
        else resolve(value!);
      };
      socket.on('error', (err) => finish(err));
      socket.on('open', () => {
        socket.send(JSON.stringify({ id: 1, method: 'Runtime.evaluate', params: { expression, returnByValue: true } }));
      });
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

/** Resident set size of a process from /proc, in bytes; null when /proc is not there. */
async function vmRss(pid: number): Promise<number | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
    return kb === undefined ? null : Number(kb) * 1024;
  } catch {
    return null;
  }
}
