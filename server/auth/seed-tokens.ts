import type { TokenStore } from './token-store.js';

/** Secrets generated at this start; each is shown once and only its hash is kept. */
export interface InitialSecrets {
  adminToken?: string;
  enrollmentToken?: string;
  dataApiKey?: string;
}

/**
 * Makes sure Fusion can be used: tokens given by the operator (environment)
 * are seeded; otherwise, on a first start with no admin or no enrollment token,
 * one is generated and returned so it can be printed once.
 */
export async function seedTokens(tokens: TokenStore, given: { adminToken?: string | undefined; enrollmentToken?: string | undefined }): Promise<InitialSecrets> {
  const created: InitialSecrets = {};
  if (given.adminToken) await tokens.seed('admin', 'env:FUSION_ADMIN_TOKEN', given.adminToken, 'admin');
  else if ((await tokens.countLive('admin')) === 0) created.adminToken = (await tokens.create({ kind: 'admin', name: 'initial-admin', role: 'admin' })).secret;
  if (given.enrollmentToken) await tokens.seed('enrollment', 'env:FUSION_ENROLLMENT_TOKEN', given.enrollmentToken);
  else if ((await tokens.countLive('enrollment')) === 0) created.enrollmentToken = (await tokens.create({ kind: 'enrollment', name: 'initial-enrollment' })).secret;
  return created;
}
