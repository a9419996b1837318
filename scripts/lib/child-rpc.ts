import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root: children run from here so `--import tsx` resolves. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

type Handlers = Record<string, (...args: never[]) => unknown>;

interface Request {
  id: number;
  method: string;
  args: unknown[];
}

type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

/**
 * A benchmark helper process (a simulated fleet, a bare ws server, ...) run as
 * `node --import tsx <file>` with an IPC channel; the parent calls the
 * child's handlers by name and awaits their results. Every call has a time
 * limit, and the child exits when the parent goes away, so no helper outlives
 * a benchmark that crashed.
 */
export class ChildRpc<H extends Handlers> {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private exitError: Error | null = null;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    child.on('message', (message: Reply) => {
      const call = this.pending.get(message.id);
      if (!call) return;
      this.pending.delete(message.id);
      clearTimeout(call.timer);
      if (message.ok) call.resolve(message.value);
      else call.reject(new Error(`${name}: ${message.error}`));
    });
    child.on('exit', (code, signal) => {
      this.exitError = new Error(`${name} exited (${signal ?? code})`);
      for (const [id, call] of this.pending) {
        clearTimeout(call.timer);
        call.reject(this.exitError);
        this.pending.delete(id);
      }
    });
  }

  /** Starts `file` (relative to the repository root) with `execArgv` before `--import tsx`. */
  static spawn<H extends Handlers>(name: string, file: string, options: { execArgv?: string[]; env?: NodeJS.ProcessEnv } = {}): ChildRpc<H> {
    const child = spawn(process.execPath, [...(options.execArgv ?? []), '--import', 'tsx', file], {
      cwd: ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new ChildRpc<H>(name, child);
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Calls a handler in the child; rejects after `timeoutMs` or if the child exits. */
  call<K extends keyof H & string>(method: K, args: Parameters<H[K]>, timeoutMs = 120_000): Promise<Awaited<ReturnType<H[K]>>> {
    if (this.exitError) return Promise.reject(this.exitError);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: ${method} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.child.send({ id, method, args } satisfies Request);
    });
  }

  /** Ends the child: SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}

/**
 * The child side: answers the parent's calls with `handlers`, and exits when
 * the parent disconnects or sends SIGTERM (after `cleanup`, bounded to 5 s).
 */
export function serveRpc(handlers: Handlers, cleanup: () => Promise<void> = async () => undefined): void {
  if (!process.send) throw new Error('serveRpc needs an IPC channel (run the file through ChildRpc.spawn)');
  let exiting = false;
  const exit = (): void => {
    if (exiting) return;
    exiting = true;
    setTimeout(() => process.exit(0), 5000).unref();
    cleanup()
      .catch(() => undefined)
      .finally(() => process.exit(0));
  };
  process.on('disconnect', exit);
  process.on('SIGTERM', exit);
  process.on('message', (request: Request) => {
    const reply = (message: Reply): void => {
      if (process.connected) process.send!(message);
    };
    const handler = handlers[request.method] as ((...args: unknown[]) => unknown) | undefined;
    if (!handler) {
      reply({ id: request.id, ok: false, error: `no handler ${request.method}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(...request.args))
      .then(
        (value) => reply({ id: request.id, ok: true, value: value ?? null }),
        (err: unknown) => reply({ id: request.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
      );
  });
}
