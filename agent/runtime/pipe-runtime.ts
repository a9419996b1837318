import type { Logger } from 'pino';
import type { AgentConfig } from '../../shared/config/index.js';
import type { PipeStatus } from '../../shared/protocol/index.js';
import type { TlsMaterial } from '../control/tls-files.js';
import { defaultDriverRegistry, type DriverRegistry } from './driver-registry.js';
import { Pipe, errorMessage, type PipeRetryPolicy, type ScanRequest, type ScanResult } from './pipe.js';
import { diffSpecs, resolvePipes } from './pipe-diff.js';
import { StatusBoard } from './status-board.js';
import type { PipeChange, PipeContext, PipeRuntime, ResolvedPipe } from './types.js';

export interface PipeRuntimeOptions {
  agentId: string;
  logger: Logger;
  /** Drivers by name; defaults to {@link defaultDriverRegistry} with `tls`. */
  registry?: DriverRegistry;
  /**
   * The agent's TLS material (bootstrap `ca`, `cert`, `key`), for senders to
   * https receivers when no `registry` is given. Holds a private key: never log it.
   */
  tls?: TlsMaterial;
  /** Backoff before a pipe starts its cycle over after a failure. */
  retry?: PipeRetryPolicy;
}

export interface ScanArgs extends ScanRequest {
  /** Pipe whose source is scanned; may be omitted when exactly one pipe runs. */
  pipe?: string;
}

/** The runtime the agent drives: apply configs, watch pipe status, run on-demand scans. */
export interface AgentPipeRuntime extends PipeRuntime {
  /** Calls `listener` with every pipe's status after changes (coalesced per event-loop turn); returns an unsubscribe. */
  onStatus(listener: (pipes: PipeStatus[]) => void): () => void;
  /** Walks a path through a running pipe's source and delivers it through its sender; resolves once all of it was accepted. */
  scan(args: ScanArgs): Promise<ScanResult & { pipe: string }>;
}

interface RunningPipe {
  spec: ResolvedPipe;
  pipe: Pipe;
  /** Owns the pipe's status entry. */
  token: object;
}

/**
 * The agent's pipe runtime. Applies are serialised and work by pipe-level
 * diff against what actually runs: added pipes start, removed ones stop,
 * changed ones restart, the rest keep their running instance. When a pipe
 * cannot start, the apply is rolled back (what it started is stopped, what it
 * stopped is started again) and it throws an Error naming the pipe.
 */
export function createPipeRuntime(options: PipeRuntimeOptions): AgentPipeRuntime {
  return new Runtime(options);
}

class Runtime implements AgentPipeRuntime {
  private readonly registry: DriverRegistry;
  private readonly running = new Map<string, RunningPipe>();
  private readonly board: StatusBoard;
  private queue: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: PipeRuntimeOptions) {
    this.registry = options.registry ?? defaultDriverRegistry(options.tls ? { fusion: { tls: options.tls } } : {});
    this.board = new StatusBoard((err) => options.logger.error({ err: errorMessage(err) }, 'pipe status listener threw'));
  }

  apply(config: AgentConfig): Promise<PipeChange> {
    return this.serialise(() => this.applyNow(config));
  }

  status(): PipeStatus[] {
    return this.board.list();
  }

  onStatus(listener: (pipes: PipeStatus[]) => void): () => void {
    return this.board.subscribe(listener);
  }

  async scan(args: ScanArgs): Promise<ScanResult & { pipe: string }> {
    const target = this.pickPipe(args.pipe);
    const result = await target.pipe.scan({ path: args.path, recursive: args.recursive });
    return { ...result, pipe: target.spec.id };
  }

  stop(): Promise<void> {
    return this.serialise(async () => {
      if (this.stopped) return;
      this.stopped = true;
      const all = [...this.running.values()];
      this.running.clear();
      await Promise.all(all.map((r) => r.pipe.stop()));
      for (const id of this.board.ids()) this.board.remove(id);
      this.board.close();
    });
  }

  private async applyNow(config: AgentConfig): Promise<PipeChange> {
    if (this.stopped) throw new Error('the pipe runtime is stopped');
    const current = new Map([...this.running].map(([id, r]) => [id, r.spec] as const));
    const diff = diffSpecs(current, resolvePipes(config));
    const toStart = [...diff.added, ...diff.restarted].sort();

    // Build every new instance before touching a running one: an unknown driver or unusable setting fails here, at no cost.
    const fresh: RunningPipe[] = [];
    for (const id of toStart) {
      try {
        fresh.push(this.build(diff.specs.get(id)!));
      } catch (err) {
        await Promise.all(fresh.map((r) => r.pipe.stop()));
        throw new Error(`pipe "${id}" cannot start: ${errorMessage(err)}`);
      }
    }

    const stoppedOld: RunningPipe[] = [];
    for (const id of [...diff.removed, ...diff.restarted]) {
      const old = this.running.get(id)!;
      // A pipe that goes away, or now sends elsewhere, takes its entries out of the views it fed.
      const next = diff.specs.get(id);
      await old.pipe.stop({ retire: !next || !sameDestination(old.spec, next) });
      this.running.delete(id);
      this.board.remove(id, old.token);
      stoppedOld.push(old);
    }

    const started: RunningPipe[] = [];
    for (const [index, candidate] of fresh.entries()) {
      const id = candidate.spec.id;
      this.board.claim(id, candidate.token);
      try {
        await candidate.pipe.start();
      } catch (err) {
        const reason = errorMessage(err);
        await Promise.all(fresh.slice(index).map((r) => r.pipe.stop()));
        this.board.remove(id, candidate.token);
        await this.rollBack(started, stoppedOld);
        throw new Error(`pipe "${id}" failed to start: ${reason}; the previous pipes keep running`);
      }
      this.running.set(id, candidate);
      started.push(candidate);
    }

    // Entries left from a pipe that could not be restored earlier and is no longer wanted.
    for (const id of this.board.ids()) if (!this.running.has(id)) this.board.remove(id);
    const change: PipeChange = { added: diff.added, removed: diff.removed, restarted: diff.restarted };
    this.options.logger.info(change, 'pipes applied');
    return change;
  }

  /** Undoes a failed apply: stops what it started, starts again (as new instances) what it stopped. */
  private async rollBack(started: RunningPipe[], stoppedOld: RunningPipe[]): Promise<void> {
    for (const r of started) {
      await r.pipe.stop();
      this.running.delete(r.spec.id);
      this.board.remove(r.spec.id, r.token);
    }
    for (const old of stoppedOld) {
      let restored: RunningPipe | null = null;
      try {
        restored = this.build(old.spec);
        this.board.claim(old.spec.id, restored.token);
        await restored.pipe.start();
        this.running.set(old.spec.id, restored);
      } catch (err) {
        const message = `could not restore pipe "${old.spec.id}" after a failed apply: ${errorMessage(err)}`;
        this.options.logger.error({ pipe: old.spec.id }, message);
        if (restored) {
          await restored.pipe.stop();
          this.board.claim(old.spec.id, restored.token);
          this.board.update(old.spec.id, restored.token, { state: 'error', last_error: message });
        }
      }
    }
  }

  private build(spec: ResolvedPipe): RunningPipe {
    const token = {};
    const controller = new AbortController();
    const ctx: PipeContext = {
      agentId: this.options.agentId,
      spec,
      logger: this.options.logger.child({ pipe: spec.id }),
      signal: controller.signal,
      report: (update) => this.board.update(spec.id, token, update),
    };
    const source = this.registry.createSource(ctx);
    const sender = this.registry.createSender(ctx);
    return { spec, token, pipe: new Pipe(ctx, controller, source, sender, this.options.retry) };
  }

  private pickPipe(id: string | undefined): RunningPipe {
    const ids = [...this.running.keys()].sort();
    if (id !== undefined) {
      const found = this.running.get(id);
      if (!found) throw new Error(`no pipe "${id}" is running (running: ${ids.join(', ') || 'none'})`);
      return found;
    }
    if (ids.length === 0) throw new Error('no pipe is running');
    if (ids.length > 1) throw new Error(`${ids.length} pipes are running (${ids.join(', ')}); name the pipe to scan`);
    return this.running.get(ids[0]!)!;
  }

  private serialise<T>(task: () => Promise<T>): Promise<T> {
    const result = this.queue.then(task, task);
    this.queue = result.catch(() => undefined);
    return result;
  }
}

/** True when both specs send to the same receiver with the same key (so into the same views). */
function sameDestination(a: ResolvedPipe, b: ResolvedPipe): boolean {
  return a.sender.driver === b.sender.driver && a.sender.uri === b.sender.uri && a.sender.credential?.key === b.sender.credential?.key;
}
