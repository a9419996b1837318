import type { Router } from 'express';
import type { Logger } from '../../shared/logger.js';
import { compileAccess, type DataPlaneAccess } from './api-keys.js';
import type { DataPlaneContext, KeyAttempts } from './context.js';
import { loadFusionConfig } from './fusion-config-file.js';
import { FusionConfigError, validateFusionConfig, type FusionConfig, type FusionPipeConfig } from './fusion-config.js';
import { createIngestRouter } from './ingest-router.js';
import { SessionRegistry, type SessionPlan } from './sessions.js';
import { ViewRegistry } from './view-registry.js';
import { createViewsRouter } from './views-router.js';

export * from './api-keys.js';
export * from './fs-view.js';
export * from './fusion-config.js';
export * from './fusion-config-file.js';
export * from './fusion-drivers.js';
export * from './http-errors.js';
export * from './records.js';
export * from './sessions.js';
export * from './view-registry.js';
export { MAX_INGEST_BODY_BYTES } from './ingest-router.js';
export * from './holder.js';
export * from './forward.js';
export type { ViewSessions } from './views-router.js';

export interface DataPlaneOptions {
  /** `$FUSTOR_HOME`: fusion.yaml is read from (or first written to) here. */
  home: string;
  logger: Logger;
  /** Period of the session-timeout sweep, in ms; by default a quarter of the shortest session timeout, within 10 ms..1 s. */
  sweepIntervalMs?: number;
  /** Where unknown API keys are counted, so guessing keys is limited like guessing tokens. */
  keyAttempts?: KeyAttempts | undefined;
}

/** Fusion's data plane: ingest sessions, views and the config that wires them. */
export interface DataPlane {
  /** Mount at /api/v1/pipe. Parses its own JSON bodies and answers its own errors. */
  ingestRouter: Router;
  /** Mount at /api/v1/views. */
  viewsRouter: Router;
  /** The config in force (changes on reload). */
  readonly config: FusionConfig;
  /** Path of fusion.yaml. */
  configPath: string;
  /** Set when fusion.yaml was missing and has just been written: the new receiver key, to print once. */
  generatedApiKey?: string;
  sessions: SessionRegistry;
  views: ViewRegistry;
  /**
   * Applies a config without a restart: views, receivers and pipes are added,
   * removed or changed; sessions of removed, disabled or re-wired pipes end;
   * views that stay keep their data, except the entries of pipes that no
   * longer feed them, which are removed. The document is validated again first;
   * an invalid one throws FusionConfigError and changes nothing. It is not
   * written to disk (see writeFusionConfig).
   */
  reload(config: FusionConfig): void;
  /** Reads fusion.yaml again and applies it; throws FusionConfigError (changing nothing) when it is invalid. */
  reloadFromDisk(): Promise<FusionConfig>;
  /**
   * Ends every session and empties every view (this replica stopped serving
   * the data plane: another now does, and senders open sessions there and
   * send their snapshots again).
   */
  reset(): void;
  /** Stops the session sweep and ends every session. */
  stop(): void;
}

/** Loads (or first writes) `<home>/fusion.yaml` and builds the data plane from it. */
export async function createDataPlane(options: DataPlaneOptions): Promise<DataPlane> {
  const { logger } = options;
  const loaded = await loadFusionConfig(options.home);
  const sessions = new SessionRegistry({ logger });
  const views = new ViewRegistry();
  const state: { config: FusionConfig; access: DataPlaneAccess } = { config: loaded.config, access: compileAccess(loaded.config) };
  views.sync(loaded.config.views);

  const context: DataPlaneContext = {
    get config() {
      return state.config;
    },
    get access() {
      return state.access;
    },
    sessions,
    views,
    logger,
    keyAttempts: options.keyAttempts,
  };

  let sweepMs = options.sweepIntervalMs ?? sweepIntervalFor(loaded.config);
  sessions.startSweeping(sweepMs);

  const reload = (document: FusionConfig): void => {
    const check = validateFusionConfig(document);
    if (!check.ok) throw new FusionConfigError('invalid fusion config', check.errors);
    const next = check.config;
    const { added, removed } = views.sync(next.views);
    state.config = next;
    state.access = compileAccess(next);
    sessions.reconcile((session) => planFor(next, session));
    const purged = purgeUnfed(views, next);
    const nextSweepMs = options.sweepIntervalMs ?? sweepIntervalFor(next);
    if (nextSweepMs !== sweepMs) {
      sweepMs = nextSweepMs;
      sessions.startSweeping(sweepMs);
    }
    logger.info(
      { receivers: Object.keys(next.receivers), views: Object.keys(next.views), pipes: Object.keys(next.pipes), views_added: added, views_removed: removed, entries_purged: purged },
      'fusion config applied',
    );
  };

  const plane: DataPlane = {
    ingestRouter: createIngestRouter(context),
    viewsRouter: createViewsRouter(context),
    get config() {
      return state.config;
    },
    configPath: loaded.path,
    sessions,
    views,
    reload,
    async reloadFromDisk() {
      const { config } = await loadFusionConfig(options.home);
      reload(config);
      return config;
    },
    reset() {
      for (const session of sessions.list()) sessions.close(session.session_id, 'shutdown');
      for (const viewId of views.ids()) views.get(viewId)!.purge(() => true);
    },
    stop() {
      sessions.stop();
    },
  };
  if (loaded.generatedApiKey !== undefined) plane.generatedApiKey = loaded.generatedApiKey;
  return plane;
}

/** What a new config means for an open session of `pipeId` fed through `receiverId`. */
function planFor(config: FusionConfig, session: { pipeId: string; receiverId: string }): SessionPlan {
  const pipe: FusionPipeConfig | undefined = Object.hasOwn(config.pipes, session.pipeId) ? config.pipes[session.pipeId] : undefined;
  if (!pipe) return { close: 'pipe_removed' };
  if (pipe.disabled) return { close: 'pipe_disabled' };
  const receiver = pipe.receiver === session.receiverId ? config.receivers[pipe.receiver] : undefined;
  if (!receiver) return { close: 'pipe_changed' };
  return { viewIds: pipe.views, timeoutMs: receiver.session_timeout_seconds * 1000 };
}

/**
 * Removes from every view the entries of Fusion pipes that no longer feed it
 * (removed, or re-wired to other views), so no stale entry outlives its pipe.
 * A disabled pipe still feeds its views: its entries stay for when it returns.
 * Returns the entries removed, per view (views that lost none are left out).
 */
function purgeUnfed(views: ViewRegistry, config: FusionConfig): Record<string, number> {
  const purged: Record<string, number> = {};
  for (const viewId of views.ids()) {
    const feeders = new Set(Object.entries(config.pipes).filter(([, pipe]) => pipe.views.includes(viewId)).map(([id]) => id));
    const removed = views.get(viewId)!.purge((origin) => !feeders.has(origin.pipeId));
    if (removed > 0) purged[viewId] = removed;
  }
  return purged;
}

/** A quarter of the shortest session timeout, so a silent session ends at most ~25% late. */
function sweepIntervalFor(config: FusionConfig): number {
  const timeouts = Object.values(config.receivers).map((r) => r.session_timeout_seconds * 1000);
  if (!timeouts.length) return 1000;
  return Math.min(1000, Math.max(10, Math.floor(Math.min(...timeouts) / 4)));
}
