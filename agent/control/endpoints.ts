import { CONTROL_PULL_PATH, CONTROL_STATUS_PATH, CONTROL_WS_PATH, type PullIdentity } from '../../shared/protocol/index.js';

/**
 * URLs of Fusion's control endpoints from its base URL. The base may be given
 * as http(s) or ws(s) and may carry a path prefix (Fusion behind a proxy).
 */
export function controlSocketUrl(base: string): string {
  return endpoint(base, CONTROL_WS_PATH, { 'http:': 'ws:', 'https:': 'wss:' });
}

/**
 * The pull endpoint for `agentId`, with the signature it runs (omitted when it
 * runs none), the digest of the secret versions it runs with (when it uses
 * secrets) and what the agent says about itself (its bootstrap `group`, its
 * host name), as a `hello` would.
 */
export function controlPullUrl(base: string, agentId: string, currentSignature: string | null, identity: PullIdentity = {}, secretsDigest: string | null = null): string {
  const url = new URL(httpEndpoint(base, CONTROL_PULL_PATH));
  url.searchParams.set('agent_id', agentId);
  if (currentSignature !== null) url.searchParams.set('current_signature', currentSignature);
  if (secretsDigest !== null) url.searchParams.set('current_secrets_digest', secretsDigest);
  if (identity.group !== undefined) url.searchParams.set('group', identity.group);
  if (identity.hostname !== undefined) url.searchParams.set('hostname', identity.hostname);
  if (identity.agent_version !== undefined) url.searchParams.set('agent_version', identity.agent_version);
  if (identity.poll_interval_sec !== undefined) url.searchParams.set('poll_interval_sec', String(identity.poll_interval_sec));
  if (identity.attributes !== undefined) url.searchParams.set('attributes', JSON.stringify(identity.attributes));
  return url.toString();
}

/** The endpoint a polling agent posts its ACK / NACK of a pulled config to. */
export function controlStatusUrl(base: string): string {
  return httpEndpoint(base, CONTROL_STATUS_PATH);
}

/** An HTTP endpoint of Fusion from its base URL (http(s) or ws(s), with any path prefix). */
export function httpEndpoint(base: string, endpointPath: string): string {
  return endpoint(base, endpointPath, { 'ws:': 'http:', 'wss:': 'https:' });
}

function endpoint(base: string, endpointPath: string, protocols: Record<string, string>): string {
  const url = new URL(base);
  url.protocol = protocols[url.protocol] ?? url.protocol;
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${endpointPath}`;
  url.search = '';
  url.hash = '';
  return url.toString();
}
