/**
 * The polling transport, for agents that cannot keep a WebSocket (proxies):
 * asks the pull endpoint every poll interval (with ±20% jitter so a fleet does
 * not poll in step) with the signature it runs. 304 means current, 404 means
 * Fusion holds no config for this agent, 200 brings the desired document,
 * which is applied like a pushed one. A config that failed is not retried
 * until Fusion's desired signature changes. Each poll names the agent's
 * bootstrap `group` and host name, as `hello` does on the socket. After
 * applying a pulled config the agent posts its ACK (`applied`) or NACK
 * (`failed`, with the applier's error) to the status endpoint; a report that
 * gets no answer is sent again before the next poll (until a newer one
 * replaces it). Before its first pull the agent enrols over HTTP (its
 * enrollment token buys it a credential, see {@link ControlPlaneHttp.enroll});
 * requests carry that credential and the TLS material.
 *
 * With several control plane URLs, a poll that gets no answer (or a 5xx)
 * moves to the next URL, which is asked after a short jittered step; once
 * every URL failed in a row, the next try waits the poll interval again.
 */
import os from 'node:os';
import { agentVersion } from '../agent-version.js';
import { hostAttributes } from './hello.js';
import { z } from 'zod';
import type { Logger } from '../../shared/logger.js';
import { PullAnswer, type ConfigStatusFrame, type ConfigStatusReport, type PullIdentity } from '../../shared/protocol/index.js';
import type { BootstrapOptions } from '../bootstrap.js';
import { ApplierClosedError, type ConfigApplier } from '../config/config-applier.js';
import { CredentialStore } from '../credentials/credential-store.js';
import { ControlPlaneHttp, EnrollmentRequiredError } from './control-plane-http.js';
import { ControlPlaneTargets, targetsOf } from './control-plane-targets.js';
import { controlPullUrl, controlStatusUrl } from './endpoints.js';
import type { HttpResponse } from './http-client.js';
import { applyRemoteConfig } from './remote-config.js';
import { Sleeper } from './sleeper.js';
import type { ControlClient, ControlClientEvents } from './types.js';

export interface PollControlClientOptions {
  bootstrap: BootstrapOptions;
  applier: ConfigApplier;
  logger: Logger;
  events?: ControlClientEvents;
  /** The agent's credential; defaults to a store in the bootstrap home. */
  credentials?: CredentialStore;
  /** Random source in [0, 1) for the jitter; swappable for tests. */
  random?: () => number;
  /** Fusion's URLs and which one is in use (shared with the agent's other requests); defaults to the bootstrap's, shuffled. */
  targets?: ControlPlaneTargets;
}

export class PollControlClient implements ControlClient {
  private readonly sleeper = new Sleeper();
  private readonly abort = new AbortController();
  private readonly http: ControlPlaneHttp;
  private readonly targets: ControlPlaneTargets;
  /** The last poll found its URL unreachable and other URLs of the round are left: try the next one soon. */
  private stepNext = false;
  private loop: Promise<void> | null = null;
  private stopped = false;
  private reachable = false;
  /** Signature (and secrets digest) of the last desired config that could not be applied. */
  private failedSignature: string | null = null;
  /** The ACK / NACK of the last applied or refused pull, until Fusion has it. */
  private pendingReport: z.input<typeof ConfigStatusReport> | null = null;
  private readonly identity: PullIdentity;

  constructor(private readonly options: PollControlClientOptions) {
    const { bootstrap, logger } = options;
    if (!bootstrap.controlPlaneUri || !bootstrap.authToken) throw new Error('the poll transport needs control_plane_uri and auth_token');
    const credentials =
      options.credentials ?? new CredentialStore({ home: bootstrap.home, agentId: bootstrap.agentId, bootstrapToken: bootstrap.authToken, logger });
    this.targets = options.targets ?? targetsOf(bootstrap);
    this.http = new ControlPlaneHttp({ bootstrap, credentials, logger, targets: this.targets });
    const hostname = (bootstrap.hostname ?? os.hostname()).slice(0, 255);
    this.identity = {
      ...(bootstrap.group !== undefined && { group: bootstrap.group }),
      ...(hostname !== '' && { hostname }),
      agent_version: agentVersion(),
      poll_interval_sec: bootstrap.pollIntervalSec,
      attributes: hostAttributes(hostname, bootstrap.attributes ?? {}),
    };
  }

  get connected(): boolean {
    return this.reachable;
  }

  get sessionId(): string | null {
    return null;
  }

  /** Polling has no channel for frames; commands need the WebSocket transport. */
  send(): boolean {
    return false;
  }

  start(): void {
    if (this.loop) return;
    this.loop = this.runUntilStopped().catch((err: unknown) => {
      this.options.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'poll client stopped unexpectedly');
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.sleeper.wakeAll();
    await this.loop;
    this.setReachable(false);
  }

  /** One poll: ask, and apply what comes back. Never throws. */
  async pollOnce(): Promise<void> {
    const { bootstrap, applier, logger } = this.options;
    try {
      // The enrollment token only enrols: pulls, reports and downloads present the agent's own credential.
      const step = await this.http.enroll(this.abort.signal);
      if (step !== 'enrolled') {
        if (step === 'unreachable') this.urlFailed();
        else this.targets.succeeded();
        this.setReachable(step === 'pending');
        return;
      }
    } catch (err) {
      if (err instanceof EnrollmentRequiredError) logger.error(err.message);
      else if (!this.stopped) {
        logger.info({ err: (err as Error).message, uri: this.targets.current }, 'cannot reach Fusion to enrol');
        this.urlFailed();
      }
      this.setReachable(false);
      return;
    }
    if (this.pendingReport) await this.sendReport();
    const url = controlPullUrl(this.targets.current, bootstrap.agentId, applier.running.signature, this.identity, applier.running.secretsDigest);
    let response: HttpResponse;
    try {
      response = await this.http.get(url, { headers: { Accept: 'application/json' }, signal: this.abort.signal });
    } catch (err) {
      if (err instanceof EnrollmentRequiredError) logger.error(err.message);
      else if (!this.stopped) {
        logger.info({ err: (err as Error).message, uri: this.targets.current }, 'cannot reach Fusion to poll for config');
        this.urlFailed();
      }
      this.setReachable(false);
      return;
    }
    try {
      await this.handle(response);
    } catch (err) {
      if (!this.stopped) logger.warn({ err: (err as Error).message }, 'poll failed');
    }
  }

  private async handle(response: HttpResponse): Promise<void> {
    const { logger } = this.options;
    // A 5xx is this replica's trouble (e.g. its database connection): another URL may answer.
    if (response.status >= 500) this.urlFailed();
    else this.targets.succeeded();
    if (response.status === 304) {
      this.setReachable(true);
      return;
    }
    if (response.status === 404) {
      this.setReachable(true);
      logger.debug('Fusion holds no config for this agent');
      return;
    }
    if (response.status === 401 || response.status === 403) {
      this.setReachable(false);
      logger.error({ status: response.status }, 'Fusion refused this agent; check its agent id and auth token');
      return;
    }
    if (response.status !== 200) {
      this.setReachable(false);
      logger.warn({ status: response.status, uri: this.targets.current }, 'unexpected answer from the pull endpoint');
      return;
    }
    this.setReachable(true);
    const parsed = PullAnswer.safeParse(JSON.parse(response.body.toString('utf8')));
    if (!parsed.success) {
      logger.warn({ problems: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) }, 'malformed answer from the pull endpoint');
      return;
    }
    await this.apply(parsed.data);
  }

  private async apply(target: PullAnswer): Promise<void> {
    const { applier, bootstrap, logger } = this.options;
    const attempt = `${target.signature}#${target.secrets_digest ?? ''}`;
    if (attempt === this.failedSignature) {
      logger.debug({ signature: target.signature }, 'desired config already failed; waiting for a new one');
      return;
    }
    const report = (frame: ConfigStatusFrame): void => {
      if (frame.status === 'applying') return;
      this.pendingReport = {
        agent_id: bootstrap.agentId,
        signature: frame.signature,
        revision: frame.revision,
        status: frame.status,
        ...(frame.error !== undefined && { error: frame.error }),
      };
    };
    try {
      const applied = await applier.exclusive(() =>
        applier.running.signature === target.signature && applier.running.source === 'remote' && applier.running.secretsDigest === (target.secrets_digest ?? null)
          ? Promise.resolve(true)
          : applyRemoteConfig({ applier, agentId: bootstrap.agentId, report }, { ...target, secretsDigest: target.secrets_digest }),
      );
      this.failedSignature = applied ? null : attempt;
    } catch (err) {
      if (!(err instanceof ApplierClosedError)) throw err;
      return;
    }
    if (this.pendingReport) await this.sendReport();
  }

  /**
   * Posts the pending ACK / NACK. It is done with once Fusion answers 2xx, or
   * 400 / 404 (a report it cannot take, or a Fusion without the endpoint: the
   * next poll's 304 still tells it the config runs); kept for the next poll
   * when no answer came or Fusion could not take it now. Never throws.
   */
  private async sendReport(): Promise<void> {
    const { logger } = this.options;
    const report = this.pendingReport;
    if (!report) return;
    try {
      const response = await this.http.postJson(controlStatusUrl(this.targets.current), report, { signal: this.abort.signal });
      const done = (response.status >= 200 && response.status < 300) || response.status === 400 || response.status === 404;
      if (done && this.pendingReport === report) this.pendingReport = null;
      if (!done) logger.warn({ status: response.status, signature: report.signature }, 'Fusion could not take the config status report; it is sent again before the next poll');
      else if (response.status >= 300) logger.info({ status: response.status, signature: report.signature }, 'Fusion refused the config status report');
    } catch (err) {
      if (!this.stopped) logger.info({ err: (err as Error).message }, 'cannot send the config status report; it is sent again before the next poll');
    }
  }

  private async runUntilStopped(): Promise<void> {
    const intervalMs = this.options.bootstrap.pollIntervalSec * 1000;
    const random = this.options.random ?? Math.random;
    while (!this.stopped) {
      this.stepNext = false;
      await this.pollOnce();
      if (this.stopped) break;
      // Inside a round the next URL is asked after a short step; after a full round, at the poll interval.
      await this.sleeper.sleep(this.stepNext ? this.targets.stepDelayMs() : intervalMs * (0.8 + 0.4 * random()));
    }
  }

  /** The current URL gave no usable answer: move to the next one. */
  private urlFailed(): void {
    const uri = this.targets.current;
    this.stepNext = !this.targets.failed();
    if (this.targets.size > 1) this.options.logger.info({ uri, next: this.targets.current }, 'moving to the next control plane URL');
  }

  private setReachable(reachable: boolean): void {
    if (reachable === this.reachable) return;
    this.reachable = reachable;
    if (reachable) this.options.events?.connected?.();
    else this.options.events?.disconnected?.();
  }
}
