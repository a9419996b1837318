import { CONTROL_PULL_PATH, CONTROL_WS_PATH } from '../../shared/protocol/index.js';

/**
 * URLs of Fusion's control endpoints from its base URL. The base may be given
 * as http(s) or ws(s) and may carry a path prefix (Fusion behind a proxy).
 */
export function controlSocketUrl(base: string): string {
  return endpoint(base, CONTROL_WS_PATH, { 'http:': 'ws:', 'https:': 'wss:' });
}

/** The pull endpoint for `agentId`, with the signature it runs (omitted when it runs none). */
export function controlPullUrl(base: string, agentId: string, currentSignature: string | null): string {
  const url = new URL(endpoint(base, CONTROL_PULL_PATH, { 'ws:': 'http:', 'wss:': 'https:' }));
  url.searchParams.set('agent_id', agentId);
  if (currentSignature !== null) url.searchParams.set('current_signature', currentSignature);
  return url.toString();
}

function endpoint(base: string, endpointPath: string, protocols: Record<string, string>): string {
  const url = new URL(base);
  url.protocol = protocols[url.protocol] ?? url.protocol;
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${endpointPath}`;
  url.search = '';
  url.hash = '';
  return url.toString();
}
