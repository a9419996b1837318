/**
 * The one place a config reaches the pipe runtime. It serialises every change
 * (remote pushes, start-up fallback, reloads), remembers what runs and where it
 * came from, and caches each applied remote config on disk.
 */
import type { Logger } from '../../shared/logger.js';
import { configSignature, type AgentConfig } from '../../shared/config/index.js';
import { resolveConfigSecrets, type ReceivedSecrets } from './secret-resolution.js';
import type { ConfigSource } from '../../shared/protocol/index.js';
import type { PipeChange, PipeRuntime } from '../runtime/types.js';
import type { ConfigCache } from './config-cache.js';

/** The config the agent runs. `source: 'none'` (and nulls) before anything was applied. */
export interface RunningConfig {
  signature: string | null;
  /** Fusion revision, for remote and cached configs. */
  revision: number | null;
  source: ConfigSource;
  /** The normalised document (validateConfig output), with its secret references, never their values. */
  document: AgentConfig | null;
  /** Digest of the secret versions the document was resolved with; null when it uses none. */
  secretsDigest: string | null;
}

/** Where a config to apply comes from, and the secret values that came with it (remote and cached configs only). */
export interface ConfigOrigin {
  source: ConfigSource;
  revision: number | null;
  secrets?: ReceivedSecrets | undefined;
}

export interface ConfigAppliedEvent {
  running: RunningConfig;
  change: PipeChange;
}

export interface ConfigFailedEvent {
  signature: string | null;
  revision: number | null;
  source: ConfigSource;
  /** Why the config was refused or could not be applied. */
  error: string;
}

export interface ConfigApplierListener {
  applied?(event: ConfigAppliedEvent): void;
  failed?(event: ConfigFailedEvent): void;
}

export const NO_CONFIG: RunningConfig = Object.freeze({ signature: null, revision: null, source: 'none', document: null, secretsDigest: null });

/** Raised for work queued after {@link ConfigApplier.close}. */
export class ApplierClosedError extends Error {
  readonly code = 'agent_stopping';
  constructor() {
    super('the agent is stopping; no config is applied any more');
    this.name = 'ApplierClosedError';
  }
}

export class ConfigApplier {
  private current: RunningConfig = NO_CONFIG;
  private remote: RunningConfig | null = null;
  /** The secret values the last remote config came with (kept for a reload; never logged or reported). */
  private remoteSecrets: ReceivedSecrets | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly runtime: PipeRuntime,
    private readonly cache: ConfigCache,
    private readonly logger: Logger,
    private readonly listener: ConfigApplierListener = {},
  ) {}

  /** What runs now. */
  get running(): RunningConfig {
    return this.current;
  }

  /** The last remote config applied by this process, if any (it may have been replaced by a reload since). */
  get lastRemote(): RunningConfig | null {
    return this.remote;
  }

  /**
   * Runs `task` after every task queued before it has settled, so a config is
   * read, checked and applied without another change slipping in between.
   * Tasks queued after {@link close} reject with {@link ApplierClosedError}.
   */
  exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.tail.then(() => {
      if (this.closed) throw new ApplierClosedError();
      return task();
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** The secret values the last remote config came with, for a reload of it. */
  get lastRemoteSecrets(): ReceivedSecrets | undefined {
    return this.remoteSecrets;
  }

  /** Applies `config` in turn with other changes. See {@link applyExclusive}. */
  apply(config: AgentConfig, origin: ConfigOrigin): Promise<PipeChange> {
    return this.exclusive(() => this.applyExclusive(config, origin));
  }

  /**
   * Applies a validated, normalised config through the runtime. Call it only
   * inside {@link exclusive}. Secret references are resolved with the values
   * of `origin.secrets` for the runtime only: what is recorded as running,
   * cached as the document and reported keeps the references. On success the
   * config is what runs (and, when remote, is cached with its secret values,
   * mode 0600); on failure the runtime keeps the previous pipes, this records
   * nothing, reports `failed` and rethrows.
   */
  async applyExclusive(config: AgentConfig, origin: ConfigOrigin): Promise<PipeChange> {
    const signature = configSignature(config);
    let change: PipeChange;
    let secretsDigest: string | null = null;
    try {
      const resolved = resolveConfigSecrets(config, origin.source, origin.secrets);
      secretsDigest = resolved.secretsDigest;
      change = await this.runtime.apply(resolved.config);
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      this.fail({ signature, revision: origin.revision, source: origin.source, error });
      throw err;
    }
    // Source `none` is the empty config that stops everything: the agent then runs no config at all.
    this.current = origin.source === 'none' ? NO_CONFIG : { signature, revision: origin.revision, source: origin.source, document: config, secretsDigest };
    if (origin.source === 'remote') {
      this.remote = this.current;
      this.remoteSecrets = secretsDigest === null ? undefined : origin.secrets;
      if (origin.revision !== null) await this.saveCache(origin.revision, signature, config, this.remoteSecrets);
    }
    this.logger.info({ signature, revision: origin.revision, source: origin.source, pipes: change }, 'config applied');
    this.listener.applied?.({ running: this.current, change });
    return change;
  }

  /** Reports a config that was refused before reaching the runtime (e.g. it failed validation). */
  fail(event: ConfigFailedEvent): void {
    this.logger.warn(event, 'config not applied; the previous config keeps running');
    this.listener.failed?.(event);
  }

  /** Refuses work not yet started and waits for the task in progress, if any. */
  async close(): Promise<void> {
    const drained = this.tail;
    this.closed = true;
    await drained;
  }

  private async saveCache(revision: number, signature: string, config: AgentConfig, secrets: ReceivedSecrets | undefined): Promise<void> {
    try {
      await this.cache.save({ revision, signature, document: config as Record<string, unknown>, ...(secrets && { secrets: secrets.values, secrets_digest: secrets.digest }) });
    } catch (err) {
      // The config runs; only the fallback for the next start-up is stale.
      this.logger.error({ file: this.cache.path, err: (err as Error).message }, 'cannot write the config cache');
    }
  }
}
