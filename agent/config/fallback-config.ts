/**
 * The config an agent runs when it has nothing from the control plane: the
 * cached remote config if there is a usable one, else the local files.
 */
import type { Logger } from '../../shared/logger.js';
import { formatIssues, validateConfig, type AgentConfig } from '../../shared/config/index.js';
import type { ConfigSource } from '../../shared/protocol/index.js';
import type { ConfigCache } from './config-cache.js';
import { loadLocalConfig } from './local-config.js';
import type { ReceivedSecrets } from './secret-resolution.js';

export interface ConfigCandidate {
  config: AgentConfig;
  source: ConfigSource;
  revision: number | null;
  /** Secret values the config came with (a cached remote config). */
  secrets?: ReceivedSecrets | undefined;
}

/** The local config files are invalid; `errors` lists every problem with its file. */
export class LocalConfigError extends Error {
  readonly code = 'local_config_invalid';
  constructor(readonly errors: string[]) {
    super(`invalid local config:\n  - ${errors.join('\n  - ')}`);
    this.name = 'LocalConfigError';
  }
}

/**
 * Cached remote config, else local config, else null (nothing to run). A
 * cache that no longer validates for this agent is skipped with a warning.
 * Throws {@link LocalConfigError} when it comes to local files and they are invalid.
 */
export async function readFallbackConfig(deps: { home: string; agentId: string; cache: ConfigCache; logger: Logger }): Promise<ConfigCandidate | null> {
  const cached = await deps.cache.load();
  if (cached) {
    const checked = validateConfig(cached.document, { agentId: deps.agentId });
    const secrets = cached.secrets && cached.secrets_digest ? { values: cached.secrets, digest: cached.secrets_digest } : undefined;
    if (checked.ok) return { config: checked.config, source: 'cache', revision: cached.revision, secrets };
    deps.logger.warn({ file: deps.cache.path, problems: formatIssues(checked.errors) }, 'cached config is no longer valid; ignoring it');
  }
  const local = await loadLocalConfig(deps.home, { agentId: deps.agentId });
  if (!local.ok) throw new LocalConfigError(local.errors);
  return local.config ? { config: local.config, source: 'local', revision: null } : null;
}
