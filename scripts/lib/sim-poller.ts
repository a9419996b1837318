import http from 'node:http';
import https from 'node:https';
import { configSignature } from '../../shared/config/index.js';
import type { SimRunning } from './sim-config.js';

/** What a fleet learns from its polling agents. */
export interface SimPollerHooks {
  /** A poll answered 200 with a config whose signature checked out, and the agent now runs it. */
  applied(poller: SimulatedPoller, at: number): void;
  /** A poll failed (network error, unexpected status, bad document). */
  problem(poller: SimulatedPoller, what: string): void;
  /** A poll completed (any answer). */
  polled(poller: SimulatedPoller, status: number): void;
}

export interface SimPollerSettings {
  /** Fusion's base URL (http or https). */
  baseUrl: string;
  /** The enrollment token: the agent enrols with it once, then polls with the credential it is given. */
  token: string;
  intervalMs: number;
  /** A poll still unanswered after this long is abandoned. */
  requestTimeoutMs: number;
  hooks: SimPollerHooks;
}

/**
 * One simulated agent on the polling fallback: it asks the pull endpoint
 * every `intervalMs` with the signature it runs, and takes a 200's document
 * when its signature is the announced one. Each poll is a fresh connection,
 * as a poller behind a proxy would make once every half minute. Its first
 * turn enrols it (`POST /api/v1/control/enroll`), as a real agent does.
 */
export class SimulatedPoller {
  running: SimRunning = { signature: null, revision: null, document: null };
  appliedAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private inFlight: http.ClientRequest | null = null;
  /** The agent's own credential, once enrolled. */
  private credential: string | null = null;

  constructor(
    readonly agentId: string,
    private readonly settings: SimPollerSettings,
  ) {}

  /** Polls first after `firstDelayMs` (spread a fleet's polls over the interval), then every interval. */
  start(firstDelayMs: number): void {
    this.schedule(firstDelayMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.inFlight?.destroy();
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.poll();
      this.schedule(this.settings.intervalMs);
    }, delayMs);
  }

  private poll(): void {
    if (this.inFlight) return; // the previous poll is still out: skip this turn
    if (this.credential === null) return this.enroll();
    const { settings } = this;
    const url = new URL('/api/v1/control/configs/pull', settings.baseUrl);
    url.searchParams.set('agent_id', this.agentId);
    if (this.running.signature) url.searchParams.set('current_signature', this.running.signature);
    const get = url.protocol === 'https:' ? https.get : http.get;
    const req = get(url, { agent: false, headers: { authorization: `Bearer ${this.credential}` }, timeout: settings.requestTimeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', (err) => this.done(0, `response failed: ${err.message}`));
      res.on('end', () => this.onAnswer(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
    });
    req.on('timeout', () => req.destroy(new Error('poll timed out')));
    req.on('error', (err) => this.done(0, `poll failed: ${err.message}`));
    this.inFlight = req;
  }

  private enroll(): void {
    const { settings } = this;
    const url = new URL('/api/v1/control/enroll', settings.baseUrl);
    const request = url.protocol === 'https:' ? https.request : http.request;
    const headers = { authorization: `Bearer ${settings.token}`, 'content-type': 'application/json' };
    const req = request(url, { method: 'POST', agent: false, headers, timeout: settings.requestTimeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', (err) => this.done(0, `enroll answer failed: ${err.message}`));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 201) return this.done(res.statusCode ?? 0, `enroll answered ${res.statusCode}: ${body.slice(0, 200)}`);
        this.credential = (JSON.parse(body) as { credential: string }).credential;
        this.done(201);
        this.poll();
      });
    });
    req.on('timeout', () => req.destroy(new Error('enroll timed out')));
    req.on('error', (err) => this.done(0, `enroll failed: ${err.message}`));
    req.end(JSON.stringify({ agent_id: this.agentId }));
    this.inFlight = req;
  }

  private onAnswer(status: number, body: string): void {
    if (status === 304) return this.done(status);
    if (status !== 200) return this.done(status, `pull answered ${status}: ${body.slice(0, 200)}`);
    let answer: { revision: number; signature: string; document: Record<string, unknown> };
    try {
      answer = JSON.parse(body) as typeof answer;
    } catch {
      return this.done(status, 'pull answered 200 with a body that is not JSON');
    }
    if (configSignature(answer.document) !== answer.signature) return this.done(status, 'the pulled document does not have its announced signature');
    this.running = { signature: answer.signature, revision: answer.revision, document: answer.document };
    this.appliedAt = Date.now();
    this.settings.hooks.applied(this, this.appliedAt);
    this.done(status);
  }

  private done(status: number, problem?: string): void {
    if (!this.inFlight) return;
    this.inFlight = null;
    this.settings.hooks.polled(this, status);
    if (problem !== undefined && !this.stopped) this.settings.hooks.problem(this, problem);
  }
}
