/**
 * Agent packages in Fusion: the store, the admin API, the agents' download
 * route and the `upgrade` command's sha256 enricher, wired together.
 */
import type { Logger } from '../../shared/logger.js';
import type { TokenStore } from '../auth/token-store.js';
import type { CommandService } from '../commands/command-service.js';
import type { Db } from '../store/database.js';
import { packageDownloadRoute } from './package-download-route.js';
import { packageRoutes } from './package-routes.js';
import { PackageStore } from './package-store.js';
import { upgradeEnricher } from './upgrade-enricher.js';

export { PackageStore, type PackageRecord } from './package-store.js';
export { DEFAULT_MAX_PACKAGE_BYTES } from './package-routes.js';

export interface PackagesDeps {
  db: Db;
  /** Fusion's home; packages are kept in `<home>/packages`. */
  home: string;
  log: Logger;
  tokens: TokenStore;
  commands: CommandService;
  /** Upload limit in bytes (default DEFAULT_MAX_PACKAGE_BYTES). */
  maxPackageBytes?: number | undefined;
}

/** Mount `managementRouter` under /api/v1/management and `downloadRouter` under /api/v1/control/packages. */
export function createPackages(deps: PackagesDeps) {
  const store = new PackageStore(deps.db, deps.home, deps.log);
  deps.commands.setEnricher('upgrade', upgradeEnricher(store));
  return {
    store,
    managementRouter: packageRoutes({ tokens: deps.tokens, packages: store, maxPackageBytes: deps.maxPackageBytes }),
    downloadRouter: packageDownloadRoute({ tokens: deps.tokens, packages: store }),
  };
}
