import type { Logger } from 'pino';
import type { AgentConfig, PipeConfig, SenderConfig, SourceConfig } from '../../shared/config/index.js';
import type { PipeStatus } from '../../shared/protocol/index.js';

/** What an apply changed, by pipe id. */
export interface PipeChange {
  added: string[];
  removed: string[];
  restarted: string[];
}

/** A pipe with its source and sender resolved from the config document. */
export interface ResolvedPipe {
  id: string;
  pipe: PipeConfig;
  sourceId: string;
  source: SourceConfig;
  senderId: string;
  sender: SenderConfig;
}

/** Everything a running pipe gets from the runtime. */
export interface PipeContext {
  agentId: string;
  spec: ResolvedPipe;
  logger: Logger;
  /** Aborted when the pipe is stopped. */
  signal: AbortSignal;
  /** Updates the pipe's reported status (state, counters, last error). */
  report(update: Partial<Omit<PipeStatus, 'id'>>): void;
}

/** A running pipe: started by the runtime, stopped when removed or changed. */
export interface PipeInstance {
  /** Resolves once the pipe runs; rejects if it cannot start (the apply is then rolled back). */
  start(): Promise<void>;
  /** Stops reading and sending and releases everything; never rejects. */
  stop(): Promise<void>;
}

/**
 * Applies config documents to the set of running pipes by a pipe-level diff:
 * added pipes start, removed pipes stop, changed ones (their own settings or the
 * source or sender they use) restart, the rest run on untouched.
 */
export interface PipeRuntime {
  /** Throws (and keeps the previous pipes running) when the new config cannot be applied. */
  apply(config: AgentConfig): Promise<PipeChange>;
  status(): PipeStatus[];
  stop(): Promise<void>;
}
