/**
 * Agent packages in Fusion: the store, the admin API, the agents' download
 * route, the `upgrade` command's sha256 enricher and batched upgrade
 * rollouts, wired together.
 */
import { Router } from 'express';
import type { Logger } from '../../shared/logger.js';
import type { TokenStore } from '../auth/token-store.js';
import type { CommandService } from '../commands/command-service.js';
import type { WsGateway } from '../gateway/ws-gateway.js';
import type { AgentStore } from '../store/agent-store.js';
import type { Sql } from '../store/sql.js';
import { packageDownloadRoute } from './package-download-route.js';
import { packageRoutes } from './package-routes.js';
import { PackageStore } from './package-store.js';
import { PackageUsageGuard } from './package-usage.js';
import { upgradeEnricher } from './upgrade-enricher.js';
import { UpgradeRolloutEngine } from './upgrade-rollout-engine.js';
import { upgradeRolloutRoutes } from './upgrade-rollout-routes.js';
import { UpgradeRolloutStore } from './upgrade-rollout-store.js';
import type { AgentBus } from '../bus/agent-bus.js';

export { PackageStore, type PackageRecord } from './package-store.js';
export { DEFAULT_MAX_PACKAGE_BYTES } from './package-routes.js';

export interface PackagesDeps {
  sql: Sql;
  /** Fusion's home; packages are kept in `<home>/packages`. */
  home: string;
  log: Logger;
  tokens: TokenStore;
  commands: CommandService;
  agents: AgentStore;
  gateway: WsGateway;
  /** Replicas: upgrade results received where the rollouts are not run are handed over on it. */
  bus?: AgentBus | undefined;
  /** Upload limit in bytes (default DEFAULT_MAX_PACKAGE_BYTES). */
  maxPackageBytes?: number | undefined;
  /** Limit on what an upload unpacks to (default DEFAULT_MAX_UNPACKED_PACKAGE_BYTES). */
  maxUnpackedPackageBytes?: number | undefined;
  /** Ed25519 public key (PEM): every upload must carry a signature it verifies. */
  packagePublicKey?: string | undefined;
}

export interface Packages {
  store: PackageStore;
  rollouts: UpgradeRolloutEngine;
  /** Mount under /api/v1/management: packages and upgrade rollouts. */
  managementRouter: Router;
  /** Mount under /api/v1/control/packages: the agents' downloads. */
  downloadRouter: Router;
  /** Stops the rollout timers (rollouts stay stored and carry on at the next start). */
  stop(): void;
}

export async function createPackages(deps: PackagesDeps): Promise<Packages> {
  const store = new PackageStore(deps.sql, deps.home, deps.log);
  await store.reconcile();
  deps.commands.setEnricher('upgrade', upgradeEnricher(store));
  // An upgrade command is stored only while its package exists, held against a delete until the commit.
  deps.commands.setGuard('upgrade', (args) => store.hold(String(args.version)));
  const rolloutStore = new UpgradeRolloutStore(deps.sql);
  // Running rollouts are picked up by whoever holds the rollouts lease (resumeRunning).
  const rollouts = new UpgradeRolloutEngine({ store: rolloutStore, commands: deps.commands, packages: store, log: deps.log, bus: deps.bus });
  const managementRouter = Router();
  const usage = new PackageUsageGuard({ commands: deps.commands, rollouts, rolloutStore });
  managementRouter.use(packageRoutes({ tokens: deps.tokens, packages: store, usage, maxPackageBytes: deps.maxPackageBytes, maxUnpackedBytes: deps.maxUnpackedPackageBytes, packagePublicKey: deps.packagePublicKey }));
  managementRouter.use(upgradeRolloutRoutes({ tokens: deps.tokens, engine: rollouts, store: rolloutStore, agents: deps.agents, gateway: deps.gateway }));
  return {
    store,
    rollouts,
    managementRouter,
    downloadRouter: packageDownloadRoute({ tokens: deps.tokens, packages: store }),
    stop: () => rollouts.stop(),
  };
}
