import os from 'node:os';
import { DIAGNOSTICS_MAX_BYTES } from '../../shared/protocol/index.js';
import { agentVersion } from '../agent-version.js';

/** Keys whose values a bundle never carries (credentials, data keys, tokens, passwords, private keys). */
const SECRET_KEY = /^(key|api_key|token|auth_token|secret|password|passphrase|credential|private_key)$/i;

/** A copy of `value` with the value of every secret-looking key replaced by "[redacted]". */
export function redactSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) out[key] = SECRET_KEY.test(key) ? '[redacted]' : redactSecrets(inner);
  return out;
}

export interface DiagnosticsSources {
  agentId: string;
  config: { signature: string | null; revision: number | null; source: string; document: Record<string, unknown> | null };
  pipes: unknown[];
  logLines(count: number): string[];
  /** The control plane URL in use and the order the agent tries its URLs in; absent without a control plane. */
  controlPlane?: { uri: string; order: readonly string[] };
}

/**
 * The diagnostics bundle: versions, host facts, the effective config with
 * secrets redacted, the control plane URL in use, pipe status and the log tail. Bounded: oldest log lines
 * are dropped until the JSON fits DIAGNOSTICS_MAX_BYTES.
 */
export function diagnosticsBundle(sources: DiagnosticsSources, logLines = 200): Record<string, unknown> {
  const bundle = {
    agent_id: sources.agentId,
    generated_at: Date.now(),
    versions: { agent: agentVersion(), node: process.version, protocol_features: process.versions.modules },
    host: {
      hostname: os.hostname(),
      os: `${os.type()} ${os.release()}`,
      platform: process.platform,
      arch: process.arch,
      cpus: os.cpus().length,
      load_average: os.loadavg(),
      uptime_seconds: Math.round(os.uptime()),
      memory_bytes: { total: os.totalmem(), free: os.freemem() },
      process: { pid: process.pid, uptime_seconds: Math.round(process.uptime()), rss_bytes: process.memoryUsage().rss },
    },
    config: { ...sources.config, document: redactSecrets(sources.config.document) },
    control_plane: sources.controlPlane ? { uri: sources.controlPlane.uri, order: [...sources.controlPlane.order] } : null,
    pipes: sources.pipes,
    log_tail: sources.logLines(logLines),
  };
  let text = JSON.stringify(bundle);
  while (Buffer.byteLength(text) > DIAGNOSTICS_MAX_BYTES && bundle.log_tail.length > 0) {
    bundle.log_tail = bundle.log_tail.slice(Math.ceil(bundle.log_tail.length / 4));
    text = JSON.stringify(bundle);
  }
  if (Buffer.byteLength(text) > DIAGNOSTICS_MAX_BYTES) return { ...bundle, config: { ...bundle.config, document: '[too large for a bundle]' }, pipes: [] };
  return bundle;
}
