/**
 * Authenticated requests to the control plane, for every HTTP request the
 * agent makes to Fusion (polls, status reports, package downloads): the agent's current Bearer
 * token and id, its CA and client certificate. A 401 to the stored
 * credential revokes it, as on the WebSocket.
 *
 * @example
 * const res = await agent.controlPlane?.get(`${base}/api/v1/...`, { maxBodyBytes: 256 * 1024 * 1024 });
 */
import { AGENT_ID_HEADER } from '../../shared/protocol/index.js';
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

export class ControlPlaneHttp {
  constructor(private readonly options: { bootstrap: BootstrapOptions; credentials: CredentialStore }) {}

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
    if (response.status === 401) await credentials.refused(presented, { status: 401 });
    return response;
  }
}
