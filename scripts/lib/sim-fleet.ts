import { CONTROL_WS_PATH } from '../../shared/protocol/index.js';
import { SimulatedAgent, type SimAgentHooks, type SimAgentSettings } from './sim-agent.js';
import { SimApplyMemo } from './sim-config.js';
import { SimulatedPoller, type SimPollerHooks } from './sim-poller.js';

export interface FleetOptions {
  /** Fusion's base URL, e.g. http://127.0.0.1:8102. */
  url: string;
  /** Replicas' base URLs: agent i starts on `urls[i % length]` and moves to the next one when its connection ends. */
  urls?: string[];
  /** Enrollment token (each agent then uses the credential Fusion gives it). */
  token: string;
  count: number;
  /** Agent ids are `<prefix><index>`, index zero-padded to 5 digits. Default `sim-`. */
  prefix?: string;
  /** Full-jitter backoff and hints (default true); false makes the fleet reconnect in lock-step. */
  jitter?: boolean;
  /** `websocket` (default) or `poll` (the pull endpoint every `pollIntervalMs`). */
  transport?: 'websocket' | 'poll';
  pollIntervalMs?: number;
  /** Group named in every agent's hello. */
  group?: string;
  backoff?: { baseMs: number; capMs: number };
  /** Initial dials in flight at once (the start-up ramp; later reconnects are not limited). Default 200. */
  maxConnecting?: number;
}

/** Counters of a fleet since it started (or since `resetCounters`). */
export interface FleetCounters {
  welcomes: number;
  closes: number;
  dialFailures: number;
  configsFull: number;
  configsPatch: number;
  configRequests: number;
  applied: number;
  polls: number;
  problems: number;
  refused: Record<string, number>;
  /** Up to 5 examples of problems, for a report. */
  problemSamples: string[];
}

export interface FleetSnapshot extends FleetCounters {
  count: number;
  connected: number;
  /** Agents running a config, by nothing more than having applied one. */
  running: number;
}

const freshCounters = (): FleetCounters => ({
  welcomes: 0,
  closes: 0,
  dialFailures: 0,
  configsFull: 0,
  configsPatch: 0,
  configRequests: 0,
  applied: 0,
  polls: 0,
  problems: 0,
  refused: {},
  problemSamples: [],
});

/**
 * N simulated agents in this process: WebSocket protocol clients
 * ({@link SimulatedAgent}) or pollers ({@link SimulatedPoller}). Keeps
 * fleet-wide counters and the times of connects and applies, so a benchmark
 * can ask "how many are back" and "when did each apply". One sweep timer
 * checks every connection's liveness instead of a timer per agent.
 */
export class SimulatedFleet {
  readonly agents: SimulatedAgent[] = [];
  readonly pollers: SimulatedPoller[] = [];
  counters = freshCounters();
  /** Times (epoch ms) of every `welcome`, in order. */
  welcomeTimes: number[] = [];
  /** Text of the last config frame received, a sample of what Fusion sends. */
  lastConfigFrame = '';
  private connected = 0;
  /** Agents whose first dial of the start-up ramp is still in flight. */
  private readonly ramping = new Set<SimulatedAgent>();
  private sweep: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(readonly options: FleetOptions) {
    const prefix = options.prefix ?? 'sim-';
    const ids = Array.from({ length: options.count }, (_, i) => `${prefix}${String(i).padStart(5, '0')}`);
    if (options.transport === 'poll') {
      const hooks: SimPollerHooks = {
        applied: () => {
          this.counters.applied += 1;
        },
        polled: () => {
          this.counters.polls += 1;
        },
        problem: (_p, what) => this.problem(what),
      };
      const settings = { baseUrl: options.url, token: options.token, intervalMs: options.pollIntervalMs ?? 30_000, requestTimeoutMs: 20_000, hooks };
      for (const id of ids) this.pollers.push(new SimulatedPoller(id, settings));
      return;
    }
    const settings: SimAgentSettings = {
      wsUrl: wsUrlOf(options.url),
      ...(options.urls?.length ? { wsUrls: options.urls.map(wsUrlOf) } : {}),
      enrollmentToken: options.token,
      hostname: 'sim-host',
      ...(options.group !== undefined && { group: options.group }),
      reconnect: { baseMs: options.backoff?.baseMs ?? 500, capMs: options.backoff?.capMs ?? 30_000, jitter: options.jitter ?? true },
      stableAfterMs: 10_000,
      handshakeTimeoutMs: 15_000,
      hooks: this.agentHooks(),
      applyMemo: new SimApplyMemo(),
    };
    ids.forEach((id, i) => this.agents.push(new SimulatedAgent(id, settings, i)));
  }

  /** Agents with a live, welcomed connection. */
  get connectedCount(): number {
    return this.connected;
  }

  /**
   * Starts every agent: pollers at once (their first polls spread uniformly
   * over one interval), WebSocket agents with at most `maxConnecting` dials in
   * flight. Resolves when every agent has been started.
   */
  async start(): Promise<void> {
    if (this.pollers.length > 0) {
      const interval = this.options.pollIntervalMs ?? 30_000;
      this.pollers.forEach((p, i) => p.start(Math.floor((i / this.pollers.length) * interval)));
      return;
    }
    this.sweep = setInterval(() => {
      const now = Date.now();
      for (const agent of this.agents) agent.checkAlive(now);
    }, 1000);
    const limit = this.options.maxConnecting ?? 200;
    for (const agent of this.agents) {
      if (this.stopped) return;
      while (this.ramping.size >= limit) await new Promise((resolve) => setTimeout(resolve, 2));
      this.ramping.add(agent);
      agent.start();
    }
  }

  /** Resolves with the number connected once at least `count` are, or when `timeoutMs` passed. */
  async waitConnected(count: number, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (this.connected < count && Date.now() < deadline && !this.stopped) await new Promise((resolve) => setTimeout(resolve, 20));
    return this.connected;
  }

  /** Agents (WebSocket or polling) whose last apply happened at or after `since` (epoch ms). */
  appliedSince(since: number): number[] {
    const times: number[] = [];
    for (const a of this.agents) if (a.appliedAt >= since) times.push(a.appliedAt);
    for (const p of this.pollers) if (p.appliedAt >= since) times.push(p.appliedAt);
    return times;
  }

  snapshot(): FleetSnapshot {
    const all = [...this.agents, ...this.pollers];
    return {
      ...this.counters,
      count: all.length,
      connected: this.connected,
      running: all.filter((a) => a.running.signature !== null).length,
    };
  }

  /** Zeroes the counters and forgets the connect times (the connected count stays). */
  resetCounters(): void {
    this.counters = freshCounters();
    this.welcomeTimes = [];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.sweep) clearInterval(this.sweep);
    for (const p of this.pollers) p.stop();
    await Promise.all(this.agents.map((a) => a.stop()));
  }

  private problem(what: string): void {
    this.counters.problems += 1;
    if (this.counters.problemSamples.length < 5) this.counters.problemSamples.push(what);
  }

  private agentHooks(): SimAgentHooks {
    return {
      dialEnded: (agent, opened) => {
        this.ramping.delete(agent);
        if (!opened) this.counters.dialFailures += 1;
      },
      welcomed: (_agent, at) => {
        this.connected += 1;
        this.counters.welcomes += 1;
        this.welcomeTimes.push(at);
      },
      closed: (_agent, _code, wasWelcomed) => {
        if (wasWelcomed) this.connected -= 1;
        this.counters.closes += 1;
      },
      configReceived: (_agent, encoding, text) => {
        if (encoding === 'full') this.counters.configsFull += 1;
        else this.counters.configsPatch += 1;
        this.lastConfigFrame = text;
      },
      applied: () => {
        this.counters.applied += 1;
      },
      requested: () => {
        this.counters.configRequests += 1;
      },
      problem: (_agent, what) => this.problem(what),
      refused: (_agent, status) => {
        this.counters.refused[status] = (this.counters.refused[status] ?? 0) + 1;
      },
    };
  }
}

/** The control socket URL of a Fusion base URL. */
function wsUrlOf(url: string): string {
  return `${url.replace(/^http/, 'ws').replace(/\/+$/, '')}${CONTROL_WS_PATH}`;
}
