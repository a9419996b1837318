/**
 * Where upgrades live in the agent's home. Installed versions are kept side by
 * side; `current` is a symbolic link to the one the launcher runs, and
 * `upgrade.json` follows one upgrade from the switch to its outcome.
 *
 *   $FUSTOR_HOME/agent/versions/<version>/   unpacked packages
 *   $FUSTOR_HOME/agent/current -> versions/<version>
 *   $FUSTOR_HOME/agent/upgrade.json
 */
import path from 'node:path';
import { AGENT_BUNDLE } from '../../shared/package/agent-package.js';

export interface UpgradePaths {
  /** `$FUSTOR_HOME/agent` */
  root: string;
  /** `$FUSTOR_HOME/agent/versions` */
  versions: string;
  /** The `current` pointer (a symbolic link). */
  current: string;
  /** The record of the last upgrade. */
  state: string;
  /** Directory of an installed version. */
  version(version: string): string;
  /** The agent bundle of an installed version. */
  bundle(version: string): string;
}

export function upgradePaths(home: string): UpgradePaths {
  const root = path.join(home, 'agent');
  const versions = path.join(root, 'versions');
  return {
    root,
    versions,
    current: path.join(root, 'current'),
    state: path.join(root, 'upgrade.json'),
    version: (version) => path.join(versions, version),
    bundle: (version) => path.join(versions, version, ...AGENT_BUNDLE.split('/')),
  };
}
