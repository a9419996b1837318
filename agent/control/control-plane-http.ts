/**
 * Authenticated requests to the control plane, for every HTTP request the
 * agent makes to Fusion (polls, status reports, package downloads): the
 * agent's current Bearer token and id, its CA and client certificate. A 401
 * `revoked` to the stored credential revokes it, as on the WebSocket; a 401
 * saying Fusion does not know it (or it expired) makes the agent enrol again.
 * An answer flagging the credential for rotation gets the next one fetched
 * and stored ({@link CONTROL_CREDENTIAL_PATH}). {@link enroll} is the
 * polling transport's enrollment step. Requests built by this class go to
 * the control plane URL in use ({@link ControlPlaneTargets.current}).
 *
 * @example
 * const res = await agent.controlPlane?.get(`${base}/api/v1/...`, { maxBodyBytes: 256 * 1024 * 1024 });
 */
import {
  AGENT_ID_HEADER,
  CONTROL_CREDENTIAL_PATH,
  CONTROL_ENROLL_PATH,
  CREDENTIAL_ROTATE_HEADER,
  EnrollResponse,
  IssuedCredential,
} from '../../shared/protocol/index.js';
import type { Logger } from '../../shared/logger.js';
import { errorCodeOf } from './control-connection.js';
import { ControlPlaneTargets, targetsOf } from './control-plane-targets.js';
import { httpEndpoint } from './endpoints.js';
import type { BootstrapOptions } from '../bootstrap.js';
import type { CredentialStore } from '../credentials/credential-store.js';
import { httpRequest, type HttpResponse } from './http-client.js';

/** The agent has no token it may present: it was revoked and needs a new enrollment token. */
export class EnrollmentRequiredError extends Error {
  readonly code = 'enrollment_required';
  constructor() {
    super('this agent was revoked; it needs a new enrollment token (auth_token) to reach Fusion');
    this.name = 'EnrollmentRequiredError';
  }
}

export interface ControlPlaneGetOptions {
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Defaults to the bootstrap connect_timeout_ms. */
  timeoutMs?: number;
  maxBodyBytes?: number;
}

/** What the enrollment step came to. */
export type EnrollStep = 'enrolled' | 'pending' | 'refused' | 'unreachable';

export class ControlPlaneHttp {
  private rotating: Promise<void> | null = null;

  /** Fusion's URLs and the one in use; enrollment and rotation go to the current one. */
  readonly targets: ControlPlaneTargets;

  constructor(private readonly options: { bootstrap: BootstrapOptions; credentials: CredentialStore; logger?: Logger; targets?: ControlPlaneTargets }) {
    this.targets = options.targets ?? targetsOf(options.bootstrap);
  }

  /**
   * Makes sure the agent holds a credential: when it would present its
   * bootstrap (enrollment) token, it enrols at {@link CONTROL_ENROLL_PATH}
   * first and stores the credential. `enrolled` when it holds one now.
   */
  async enroll(signal?: AbortSignal): Promise<EnrollStep> {
    const { bootstrap, credentials } = this.options;
    const presented = await credentials.current();
    if (presented === null) throw new EnrollmentRequiredError();
    if (presented.kind === 'credential') return 'enrolled';
    const response = await httpRequest(httpEndpoint(this.targets.current, CONTROL_ENROLL_PATH), {
      method: 'POST',
      body: JSON.stringify({ agent_id: bootstrap.agentId, ...(bootstrap.hostname ? { hostname: bootstrap.hostname.slice(0, 255) } : {}) }),
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${presented.token}` },
      timeoutMs: bootstrap.connectTimeoutMs,
      ...(signal && { signal }),
      ...(bootstrap.tls && { tls: bootstrap.tls }),
      maxBodyBytes: 64 * 1024,
    });
    const log = this.options.logger;
    if (response.status === 201) {
      const parsed = EnrollResponse.safeParse(JSON.parse(response.body.toString('utf8')));
      if (!parsed.success || parsed.data.status !== 'enrolled') return 'refused';
      return (await credentials.enrolled(parsed.data.credential, parsed.data.expires_at)) ? 'enrolled' : 'refused';
    }
    if (response.status === 202) {
      log?.warn('enrollment awaits an admin\'s approval (fustorctl enrollments accept <agent id>); asking again at the next poll');
      return 'pending';
    }
    const code = errorCodeOf(response.body.toString('utf8'));
    if (response.status >= 500) return 'unreachable';
    log?.error({ status: response.status, code }, code === 'agent_already_enrolled'
      ? 'another agent is enrolled under this agent id; an admin can release the id (fustorctl credential <id> release)'
      : 'Fusion refused the enrollment; check the agent id and auth token');
    return 'refused';
  }

  /**
   * GETs a control-plane URL. Resolves with any HTTP status; rejects with an
   * HttpRequestError when no answer came, or EnrollmentRequiredError.
   */
  get(url: string, request: ControlPlaneGetOptions = {}): Promise<HttpResponse> {
    return this.send('GET', url, undefined, request);
  }

  /** POSTs `body` as JSON to a control-plane URL; resolves and rejects as {@link get} does. */
  postJson(url: string, body: unknown, request: ControlPlaneGetOptions = {}): Promise<HttpResponse> {
    return this.send('POST', url, JSON.stringify(body), { ...request, headers: { ...request.headers, 'Content-Type': 'application/json' } });
  }

  private async send(method: string, url: string, body: string | undefined, request: ControlPlaneGetOptions): Promise<HttpResponse> {
    const { bootstrap, credentials } = this.options;
    const presented = await credentials.current();
    if (presented === null) throw new EnrollmentRequiredError();
    const response = await httpRequest(url, {
      method,
      ...(body !== undefined && { body }),
      headers: { ...request.headers, Authorization: `Bearer ${presented.token}`, [AGENT_ID_HEADER]: bootstrap.agentId },
      timeoutMs: request.timeoutMs ?? bootstrap.connectTimeoutMs,
      ...(request.signal && { signal: request.signal }),
      ...(bootstrap.tls && { tls: bootstrap.tls }),
      ...(request.maxBodyBytes !== undefined && { maxBodyBytes: request.maxBodyBytes }),
    });
    if (response.status === 401) await credentials.refused(presented, { status: 401, code: errorCodeOf(response.body.toString('utf8')) });
    if (presented.kind === 'credential' && response.headers[CREDENTIAL_ROTATE_HEADER] === 'rotate') {
      this.rotating ??= this.rotate(presented.token).finally(() => {
        this.rotating = null;
      });
      await this.rotating;
    }
    return response;
  }

  /** Fetches and stores the successor of `current`; a failure is logged, the next flagged answer tries again. */
  private async rotate(current: string): Promise<void> {
    const { bootstrap, credentials } = this.options;
    try {
      const response = await httpRequest(httpEndpoint(this.targets.current, CONTROL_CREDENTIAL_PATH), {
        method: 'POST',
        headers: { Authorization: `Bearer ${current}`, [AGENT_ID_HEADER]: bootstrap.agentId },
        timeoutMs: bootstrap.connectTimeoutMs,
        ...(bootstrap.tls && { tls: bootstrap.tls }),
        maxBodyBytes: 64 * 1024,
      });
      const parsed = response.status === 201 ? IssuedCredential.safeParse(JSON.parse(response.body.toString('utf8'))) : undefined;
      if (!parsed?.success) throw new Error(`credential endpoint answered ${response.status}`);
      await credentials.enrolled(parsed.data.credential, parsed.data.expires_at);
    } catch (err) {
      this.options.logger?.warn({ err: (err as Error).message }, 'cannot rotate the credential now; trying again later');
    }
  }
}
