/**
 * The agent's public face. It runs pipes by the config it is given, in this
 * order of preference: what the control plane sends, else the cached remote
 * config, else the local `agent-config/*.yaml` files (hybrid mode). With a
 * control plane it keeps reconnecting in the background and converges to the
 * desired config whenever Fusion is reachable.
 *
 * @example
 * const agent = new Agent({ home: '/var/lib/fustor', agentId: 'nfs-01', controlPlaneUri: 'http://fusion:8102', authToken });
 * agent.on('config_applied', ({ running }) => console.log(running.signature));
 * await agent.start();
 * // ...
 * await agent.stop();
 */
import { EventEmitter } from 'node:events';
import { LogTail } from '../shared/log-tail.js';
import { createLogger, type Logger } from '../shared/logger.js';
import type { AgentConfig } from '../shared/config/index.js';
import { STATUS_INTERVAL_MS, type ConfigSource, type PipeStatus, type WelcomeFrame } from '../shared/protocol/index.js';
import { describeBootstrap, resolveBootstrapOptions, type BootstrapInput, type BootstrapOptions } from './bootstrap.js';
import { ConfigApplier, type ConfigAppliedEvent, type ConfigFailedEvent } from './config/config-applier.js';
import { ConfigCache } from './config/config-cache.js';
import { LocalConfigError, readFallbackConfig, type ConfigCandidate } from './config/fallback-config.js';
import { createConfigFrameHandler } from './control/config-frame-handler.js';
import { FrameDispatcher } from './control/frame-dispatcher.js';
import { PollControlClient } from './control/poll-control-client.js';
import type { ConnectionEnd, ControlClient, ControlClientEvents } from './control/types.js';
import { WsControlClient } from './control/ws-control-client.js';
import { ControlPlaneHttp } from './control/control-plane-http.js';
import { ControlPlaneTargets, targetsOf } from './control/control-plane-targets.js';
import type { TlsMaterial } from './control/tls-files.js';
import { CredentialStore } from './credentials/credential-store.js';
import { createPipeRuntime, type AgentPipeRuntime } from './runtime/pipe-runtime.js';
import { CommandJournal } from './commands/command-journal.js';
import { StatusReporter } from './status-reporter.js';
import { CommandRunner } from './commands/command-runner.js';
import type { CommandContext } from './commands/command-handlers.js';
import type { PipeChange, PipeRuntime } from './runtime/types.js';
import { agentVersion } from './agent-version.js';
import type { LauncherLink } from './launcher/launcher-link.js';
import { UpgradeCompletion } from './upgrade/upgrade-completion.js';
import { createUpgrader } from './upgrade/upgrader.js';

export interface AgentOptions extends BootstrapInput {
  /** Defaults to a `fustor-agent` logger whose level follows the config's `logging.level`. */
  logger?: Logger;
  /** Builds the pipe runtime; defaults to the real one. `tls` is the bootstrap's TLS material, for senders (holds a private key). */
  runtime?: (options: { agentId: string; logger: Logger; tls?: TlsMaterial }) => PipeRuntime;
  /** The launcher that runs this process; with it the agent can upgrade itself (the `upgrade` command). */
  launcher?: LauncherLink;
  /** Longest time between two `status` frames while connected; default STATUS_INTERVAL_MS (tests shorten it). */
  statusIntervalMs?: number;
  /** Random source in [0, 1) that shuffles the control plane URLs (and jitters the steps between them); tests pass a seeded one. */
  uriOrderRandom?: () => number;
}

/** A read-only view of the agent's state. */
export interface AgentSnapshot {
  agentId: string;
  connected: boolean;
  sessionId: string | null;
  /** The control plane URL in use (connected to, or being tried); null without a control plane. */
  controlPlaneUri: string | null;
  config: { signature: string | null; revision: number | null; source: ConfigSource; document: AgentConfig | null };
  pipes: PipeStatus[];
}

export interface AgentEvents {
  connected: [];
  disconnected: [end: ConnectionEnd | undefined];
  welcome: [frame: WelcomeFrame];
  config_applied: [event: ConfigAppliedEvent];
  config_failed: [event: ConfigFailedEvent];
}

/** The empty config a reload applies when no config is left at all: every pipe stops. */
const EMPTY_CONFIG: AgentConfig = { sources: {}, senders: {}, pipes: {} };

export class Agent extends EventEmitter<AgentEvents> {
  /** The resolved bootstrap options (the auth token included: never log this object as is). */
  readonly options: BootstrapOptions;
  /** Handlers of frames from Fusion by type; register more (e.g. `command`) before start(). */
  readonly dispatcher: FrameDispatcher;
  /**
   * The token the agent presents to the control plane (`await credentials.current()`):
   * its per-agent credential once enrolled, else the bootstrap token. Null without a control plane.
   */
  readonly credentials: CredentialStore | null;
  /** Authenticated GETs to the control plane (token, agent id, CA and client certificate); null without one. */
  readonly controlPlane: ControlPlaneHttp | null;
  /** Fusion's URLs in the order this agent tries them, and the one in use; null without a control plane. */
  readonly controlPlaneTargets: ControlPlaneTargets | null;
  private readonly logger: Logger;
  private readonly ownsLogger: boolean;
  private readonly runtime: PipeRuntime;
  private readonly cache: ConfigCache;
  private readonly applier: ConfigApplier;
  private client: ControlClient | null = null;
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  private stopping: Promise<void> | null = null;
  private cancelStartupWait: (() => void) | null = null;
  private readonly journal: CommandJournal;
  private unsubscribeStatus: (() => void) | null = null;
  private readonly status = new StatusReporter((pipes) => this.client?.send({ type: 'status', pipes, config: this.runningConfig() }) ?? false);
  /** Installs a package and restarts; set when the agent runs under the launcher. */
  upgrader: CommandContext['upgrade'] | undefined;
  /** Reports the outcome of an upgrade that restarted the agent. */
  private readonly upgrades: UpgradeCompletion;
  private readonly logTail = new LogTail();

  /** Throws a BootstrapError when the options are invalid. */
  constructor(options: AgentOptions) {
    super();
    this.options = resolveBootstrapOptions(options);
    this.ownsLogger = options.logger === undefined;
    // An agent that owns its logger keeps its last lines for diagnostics bundles.
    this.logger = options.logger ?? createLogger('fustor-agent', undefined, this.logTail);
    const { agentId } = this.options;
    // Senders to an https receiver trust the same CA and present the same client certificate as the control channel.
    const { tls } = this.options;
    this.runtime = (options.runtime ?? createPipeRuntime)({ agentId, logger: this.logger, ...(tls && { tls }) });
    this.cache = new ConfigCache(this.options.home, this.logger);
    this.applier = new ConfigApplier(this.runtime, this.cache, this.logger, {
      applied: (event) => {
        if (this.ownsLogger && event.running.document?.logging) this.logger.level = event.running.document.logging.level;
        this.safeEmit('config_applied', event);
      },
      failed: (event) => this.safeEmit('config_failed', event),
    });
    this.dispatcher = new FrameDispatcher(this.logger);
    const { controlPlaneUri, authToken, home } = this.options;
    this.credentials = controlPlaneUri && authToken ? new CredentialStore({ home, agentId, bootstrapToken: authToken, logger: this.logger }) : null;
    this.controlPlaneTargets = this.credentials && targetsOf(this.options, options.uriOrderRandom);
    const targets = this.controlPlaneTargets;
    this.controlPlane =
      this.credentials && targets && new ControlPlaneHttp({ bootstrap: this.options, credentials: this.credentials, logger: this.logger, targets });
    this.dispatcher.on('config', createConfigFrameHandler({ applier: this.applier, agentId, logger: this.logger }));
    this.journal = new CommandJournal(this.options.home, this.logger);
    const runner = new CommandRunner(this.journal, this.commandContext(), this.logger);
    this.upgrades = new UpgradeCompletion({
      home: this.options.home,
      version: agentVersion(),
      journal: this.journal,
      launcher: options.launcher,
      send: (frame) => this.client?.send(frame) ?? false,
      logger: this.logger,
    });
    if (options.launcher) {
      this.upgrader = createUpgrader({
        home: this.options.home,
        controlPlaneUri: targets ? () => targets.current : undefined,
        // Downloads present the agent's current token and its TLS settings, like every control-plane request.
        get: (url, limits) => (this.controlPlane ? this.controlPlane.get(url, limits) : Promise.reject(new Error('no control plane configured'))),
        runningVersion: agentVersion(),
        packagePublicKey: this.options.packagePublicKey,
        launcher: options.launcher,
        logger: this.logger,
      });
    }
    this.dispatcher.on('command', (frame, channel) => this.upgrades.gate(frame, () => runner.onCommand(frame, channel)));
    this.dispatcher.on('command_cancel', (frame) => runner.onCancel(frame));
    const withStatus = this.runtime as Partial<AgentPipeRuntime>;
    if (typeof withStatus.onStatus === 'function') {
      this.unsubscribeStatus = withStatus.onStatus((pipes) => this.status.update(pipes));
    }
    this.status.every(options.statusIntervalMs ?? STATUS_INTERVAL_MS, () => this.runtime.status());
    this.on('welcome', () => {
      this.status.flush(this.runtime.status());
      this.upgrades.onWelcome();
    });
  }

  /** The config this agent runs, as `hello` and `status` report it. */
  private runningConfig(): { signature: string | null; revision: number | null; source: ConfigSource } {
    const running = this.applier.running;
    return { signature: running.signature, revision: running.revision, source: running.source };
  }

  /** What command handlers may use: reload, the running config, scans, upgrades and the live connection. */
  private commandContext(): CommandContext {
    return {
      reload: () => this.reload(),
      effectiveConfig: () => {
        const running = this.applier.running;
        return { signature: running.signature, revision: running.revision, source: running.source, document: running.document as Record<string, unknown> | null };
      },
      scan: async (args) => {
        const runtime = this.runtime as Partial<AgentPipeRuntime>;
        if (typeof runtime.scan !== 'function') throw new Error('this pipe runtime cannot scan');
        return { ...(await runtime.scan(args)) };
      },
      upgrade: (args, commandId) => {
        if (!this.upgrader) throw new Error('this agent was started without a package installer (run it under the fustor-agent launcher to upgrade)');
        return this.upgrader(args, commandId);
      },
      send: (frame) => this.client?.send(frame) ?? false,
      diagnostics: () => ({
        agentId: this.options.agentId,
        pipes: this.runtime.status(),
        logLines: (count) => this.logTail.lines(count),
        ...(this.controlPlaneTargets && { controlPlane: { uri: this.controlPlaneTargets.current, order: this.controlPlaneTargets.order } }),
      }),
    };
  }

  /**
   * Starts the agent. Without a control plane it applies the local config and
   * rejects if that config is invalid or cannot be applied. With one, it
   * resolves once a remote config runs or, after connect_timeout_ms without
   * one, once the cached or local config is applied (problems with those are
   * logged, not thrown, since Fusion may still send a config).
   */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error('an Agent can be started once');
    this.state = 'running';
    this.logger.info(
      { ...describeBootstrap(this.options), ...(this.controlPlaneTargets && { controlPlaneOrder: this.controlPlaneTargets.order }) },
      'agent starting',
    );
    await this.journal.load();
    await this.upgrades.prepare();
    if (!this.options.controlPlaneUri) {
      await this.applyFallback();
      return;
    }
    this.client = this.createClient();
    const remoteArrived = this.waitForRemoteConfig(this.options.connectTimeoutMs);
    this.client.start();
    if (await remoteArrived) return;
    if (this.state !== 'running') return;
    this.logger.info({ waitedMs: this.options.connectTimeoutMs }, 'no config from the control plane yet; using the cached or local config');
    await this.applyFallback().catch((err: unknown) => {
      if (this.state === 'running') this.logger.error({ err: (err as Error).message }, 'cannot apply the cached or local config; waiting for the control plane');
    });
  }

  /** Closes the control connection (code 1000), stops every pipe and clears every timer. Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  /**
   * Re-reads the cache and local files and re-applies the effective config:
   * the remote config when one is known, else the cache, else local files
   * (none at all stops every pipe). Rejects, keeping the running config, when
   * the chosen config is invalid or cannot be applied.
   */
  async reload(): Promise<PipeChange> {
    if (this.state !== 'running') throw new Error('the agent is not running');
    return this.applier.exclusive(async () => {
      const remote = this.applier.lastRemote;
      const candidate: ConfigCandidate =
        remote?.document != null
          ? { config: remote.document, source: 'remote', revision: remote.revision, secrets: this.applier.lastRemoteSecrets }
          : ((await this.readFallback()) ?? { config: EMPTY_CONFIG, source: 'none', revision: null });
      this.logger.info({ source: candidate.source }, 'reloading config');
      return this.applier.applyExclusive(candidate.config, candidate);
    });
  }

  /** The control plane URL in use now (the one connected to, or being tried); null without a control plane. */
  get controlPlaneUri(): string | null {
    return this.controlPlaneTargets?.current ?? null;
  }

  /** What the agent runs and whether it is connected, as a detached copy. */
  snapshot(): AgentSnapshot {
    const running = this.applier.running;
    return {
      agentId: this.options.agentId,
      connected: this.client?.connected ?? false,
      sessionId: this.client?.sessionId ?? null,
      controlPlaneUri: this.controlPlaneUri,
      config: {
        signature: running.signature,
        revision: running.revision,
        source: running.source,
        document: running.document === null ? null : structuredClone(running.document),
      },
      pipes: this.runtime.status(),
    };
  }

  private createClient(): ControlClient {
    const events: ControlClientEvents = {
      connected: () => this.safeEmit('connected'),
      disconnected: (end) => this.safeEmit('disconnected', end),
      welcome: (frame) => this.safeEmit('welcome', frame),
    };
    const common = {
      bootstrap: this.options,
      logger: this.logger,
      events,
      ...(this.credentials && { credentials: this.credentials }),
      ...(this.controlPlaneTargets && { targets: this.controlPlaneTargets }),
    };
    if (this.options.transport === 'poll') return new PollControlClient({ ...common, applier: this.applier });
    return new WsControlClient({ ...common, dispatcher: this.dispatcher, running: () => this.applier.running });
  }

  /** Resolves true once a remote config runs, false after `timeoutMs` or when the agent stops. */
  private waitForRemoteConfig(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (arrived: boolean): void => {
        clearTimeout(timer);
        this.off('config_applied', onApplied);
        this.cancelStartupWait = null;
        resolve(arrived);
      };
      const onApplied = (event: ConfigAppliedEvent): void => {
        if (event.running.source === 'remote') done(true);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      this.on('config_applied', onApplied);
      this.cancelStartupWait = () => done(false);
    });
  }

  /** Applies the cached or local config unless something already runs (a remote config may have won the race). */
  private applyFallback(): Promise<void> {
    return this.applier.exclusive(async () => {
      if (this.applier.running.source !== 'none') return;
      const candidate = await this.readFallback();
      if (!candidate) {
        this.logger.warn({ home: this.options.home }, 'no config from the control plane, the cache or agent-config/; running no pipes');
        return;
      }
      await this.applier.applyExclusive(candidate.config, candidate);
    });
  }

  private async readFallback(): Promise<ConfigCandidate | null> {
    try {
      return await readFallbackConfig({ home: this.options.home, agentId: this.options.agentId, cache: this.cache, logger: this.logger });
    } catch (err) {
      if (err instanceof LocalConfigError) this.applier.fail({ signature: null, revision: null, source: 'local', error: err.message });
      throw err;
    }
  }

  private async shutdown(): Promise<void> {
    this.state = 'stopping';
    this.cancelStartupWait?.();
    this.unsubscribeStatus?.();
    this.status.stop();
    try {
      await this.client?.stop();
      await this.applier.close();
      await this.runtime.stop();
    } finally {
      this.state = 'stopped';
      this.logger.info('agent stopped');
    }
  }

  /** Emits without letting a listener's exception reach the socket or the apply that triggered it. */
  private safeEmit<K extends keyof AgentEvents>(event: K, ...args: AgentEvents[K]): void {
    try {
      (this.emit as (event: K, ...args: AgentEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      this.logger.error({ event, err: err instanceof Error ? err.message : String(err) }, 'agent event listener threw');
    }
  }
}
