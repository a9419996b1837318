import os from 'node:os';
import { PROTOCOL_VERSION, type HelloFrame } from '../../shared/protocol/index.js';
import { agentVersion } from '../agent-version.js';
import type { RunningConfig } from '../config/config-applier.js';

/** Optional protocol features this agent implements, announced in `hello`. */
export const AGENT_CAPABILITIES: readonly string[] = ['patch', 'config_request', 'credential_rotation'];

/**
 * The first frame of every connection. It carries the signature of the config
 * the agent runs, so Fusion sends nothing, a patch, or the full document; and
 * the bootstrap's `group`, so Fusion can put a new agent in its group before
 * it decides what config to send.
 */
export function buildHello(
  agentId: string,
  running: RunningConfig,
  hostname?: string,
  group?: string,
  attributes: Readonly<Record<string, string>> = {},
): HelloFrame {
  const host = (hostname ?? os.hostname()).slice(0, 255);
  return {
    type: 'hello',
    protocol_version: PROTOCOL_VERSION,
    agent_id: agentId,
    agent_version: agentVersion(),
    hostname: host,
    capabilities: [...AGENT_CAPABILITIES],
    attributes: hostAttributes(host, attributes),
    config: {
      signature: running.signature,
      revision: running.revision,
      source: running.source,
      ...(running.secretsDigest !== null && { secrets_digest: running.secretsDigest }),
    },
    ...(group !== undefined && { group }),
  };
}

/**
 * The attributes an agent reports: the host facts Fusion shows (`os`, `arch`,
 * `hostname`, `agent_version`), then the bootstrap's own, which win on a
 * clash so an operator can correct what the host says.
 */
export function hostAttributes(hostname: string, custom: Readonly<Record<string, string>>): Record<string, string> {
  return {
    os: process.platform,
    arch: process.arch,
    ...(hostname !== '' && { hostname }),
    agent_version: agentVersion(),
    ...custom,
  };
}
