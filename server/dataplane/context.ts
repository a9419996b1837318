import type { Logger } from '../../shared/logger.js';
import type { DataPlaneAccess } from './api-keys.js';
import type { FusionConfig } from './fusion-config.js';
import type { SessionRegistry } from './sessions.js';
import type { ViewRegistry } from './view-registry.js';

/**
 * What the data-plane routers read on every request. `config` and `access`
 * are replaced together on reload, so a request sees one config or the other,
 * never a mix.
 */
export interface DataPlaneContext {
  readonly config: FusionConfig;
  readonly access: DataPlaneAccess;
  readonly sessions: SessionRegistry;
  readonly views: ViewRegistry;
  readonly logger: Logger;
}
