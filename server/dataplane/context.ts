import type { IncomingMessage } from 'node:http';
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
  /** Counts unknown API keys like failed logins (see server/auth/failed-auth-limiter.ts). */
  readonly keyAttempts?: KeyAttempts | undefined;
}

/** The failed-authentication limiter, as the data plane sees it. */
export interface KeyAttempts {
  /** Seconds the caller must wait before presenting `key` again; 0 when it may try. */
  retryAfter(req: IncomingMessage, key: string | undefined): number;
  failed(req: IncomingMessage, key: string | undefined): void;
}
