/**
 * Which agent the launcher starts: the version the `current` pointer names,
 * else the agent the launcher was installed with (its "built-in" agent).
 */
import { access } from 'node:fs/promises';
import type { Logger } from '../../shared/logger.js';
import { upgradePaths } from '../upgrade/upgrade-paths.js';
import { readCurrentVersion } from '../upgrade/version-pointer.js';

/** How to run an agent program: node [execArgv] script [agent args]. */
export interface AgentEntry {
  script: string;
  execArgv: readonly string[];
}

/** The agent to start, and the installed version it is (null for the built-in agent). */
export interface ResolvedAgent extends AgentEntry {
  version: string | null;
}

/**
 * Resolves the agent to start. A pointer that is unreadable or names a version
 * whose bundle is missing is logged and the built-in agent is used, so the
 * node keeps an agent running.
 */
export async function resolveAgent(home: string, builtin: AgentEntry, logger: Logger): Promise<ResolvedAgent> {
  let version: string | null;
  try {
    version = await readCurrentVersion(home);
  } catch (err) {
    logger.error({ err: (err as Error).message }, 'ignoring an invalid current pointer; starting the built-in agent');
    return { ...builtin, version: null };
  }
  if (version === null) return { ...builtin, version: null };
  const script = upgradePaths(home).bundle(version);
  try {
    await access(script);
  } catch {
    logger.error({ version, script }, 'the current version has no agent bundle; starting the built-in agent');
    return { ...builtin, version: null };
  }
  return { script, execArgv: [], version };
}
