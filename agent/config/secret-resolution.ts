/**
 * Resolving `${secret:name}` references at apply time. The values come only
 * from Fusion, beside the document that references them (a config frame or a
 * pull answer) or from the cache of the last one; a local config cannot use
 * secrets. A config whose references lack values is refused with their names
 * (the agent NACKs it and keeps running what it ran).
 */
import { resolveSecrets, secretNames, validateConfig, type AgentConfig } from '../../shared/config/index.js';
import type { ConfigSource } from '../../shared/protocol/index.js';

/** Secret values received with a config, and the digest of their versions. */
export interface ReceivedSecrets {
  values: Readonly<Record<string, string>>;
  digest: string;
}

/** The config the runtime runs (references replaced) and the digest of the versions it used (null when it uses none). */
export function resolveConfigSecrets(
  config: AgentConfig,
  source: ConfigSource,
  secrets: ReceivedSecrets | undefined,
): { config: AgentConfig; secretsDigest: string | null } {
  const names = secretNames(config);
  if (names.length === 0) return { config, secretsDigest: null };
  if (source === 'local' || source === 'none') {
    throw new Error(`the ${source} config references secret(s) ${names.join(', ')}; secret values come only from Fusion`);
  }
  if (!secrets) throw new Error(`the config references secret(s) ${names.join(', ')} but came without their values`);
  const resolved = resolveSecrets(config as Record<string, unknown>, secrets.values);
  if (!resolved.ok) throw new Error(`the config references secret(s) ${resolved.missing.join(', ')} but came without their values`);
  const checked = validateConfig(resolved.document);
  if (!checked.ok) {
    // Only the paths: a message could quote a value.
    throw new Error(`with its secrets substituted the config is invalid at ${checked.errors.map((e) => e.path).join(', ')}`);
  }
  return { config: checked.config, secretsDigest: secrets.digest };
}
