/** Secrets referenced from agent configs: encrypted store, service and management routes. */
import type { Router } from 'express';
import type { TokenStore } from '../auth/token-store.js';
import type { Sql } from '../store/sql.js';
import { SecretCipher } from './secret-cipher.js';
import { secretRoutes } from './secret-routes.js';
import { SecretService } from './secret-service.js';
import { SecretStore } from './secret-store.js';

export { SecretService };

export function createSecrets(deps: { sql: Sql; home: string; tokens: TokenStore }): { service: SecretService; router: Router } {
  const service = new SecretService(new SecretStore(deps.sql, SecretCipher.open(deps.home)));
  return { service, router: secretRoutes({ tokens: deps.tokens, secrets: service }) };
}
