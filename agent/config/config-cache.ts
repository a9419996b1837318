/**
 * The last remote config the agent applied, kept on disk so that it can run
 * that config at start-up when the control plane is unreachable.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { Logger } from '../../shared/logger.js';
import { configSignature } from '../../shared/config/index.js';
import { ConfigDocument, SecretValues, Signature } from '../../shared/protocol/index.js';
import { writeFileAtomic } from '../../shared/atomic-write.js';

/** Path of the cache file under the agent's home. */
export function configCachePath(home: string): string {
  return path.join(home, 'agent-state', 'config-cache.json');
}

/** What the cache file holds. */
export const CachedConfig = z.object({
  /** Fusion revision of the config. */
  revision: z.number().int().nonnegative(),
  /** Signature of `document`; checked again on load. */
  signature: Signature,
  /** The normalised config document. */
  document: ConfigDocument,
  /** Values of the secrets the document references, as Fusion sent them (the file is mode 0600). */
  secrets: SecretValues.optional(),
  /** Digest of those secrets' versions. */
  secrets_digest: Signature.optional(),
  /** When it was written (ISO 8601). */
  saved_at: z.string(),
});
export type CachedConfig = z.infer<typeof CachedConfig>;

export class ConfigCache {
  readonly path: string;

  constructor(
    home: string,
    private readonly logger: Logger,
  ) {
    this.path = configCachePath(home);
  }

  /**
   * The cached config, or null when there is none. A file that is not JSON, has
   * the wrong shape, or whose document does not match its signature is ignored
   * with a warning (it is never trusted, and the next save replaces it).
   */
  async load(): Promise<CachedConfig | null> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      this.logger.warn({ file: this.path, err: (err as Error).message }, 'cannot read the config cache; ignoring it');
      return null;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      this.logger.warn({ file: this.path, err: (err as Error).message }, 'config cache is not JSON; ignoring it');
      return null;
    }
    const parsed = CachedConfig.safeParse(value);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
      this.logger.warn({ file: this.path, problems }, 'config cache is malformed; ignoring it');
      return null;
    }
    if (configSignature(parsed.data.document) !== parsed.data.signature) {
      this.logger.warn({ file: this.path }, 'config cache document does not match its signature; ignoring it');
      return null;
    }
    return parsed.data;
  }

  /** Atomically replaces the cache (mode 0600). */
  async save(entry: Omit<CachedConfig, 'saved_at'>): Promise<CachedConfig> {
    const cached: CachedConfig = { ...entry, saved_at: new Date().toISOString() };
    await writeFileAtomic(this.path, `${JSON.stringify(cached, null, 2)}\n`, 0o600);
    return cached;
  }
}
