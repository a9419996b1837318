import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../shared/package-root.js';

let cached: string | undefined;

/**
 * The agent software version, from the package's package.json (reported in `hello`): the
 * repository's when run from source or dist/, the agent package's when bundled.
 * Read once; "0.0.0" when the file cannot be read, so a packaging slip never stops the agent.
 */
export function agentVersion(): string {
  if (cached !== undefined) return cached;
  try {
    const pkg = JSON.parse(readFileSync(join(packageRoot(import.meta.url), 'package.json'), 'utf8')) as { version?: unknown };
    cached = typeof pkg.version === 'string' && pkg.version.length > 0 ? pkg.version : '0.0.0';
  } catch {
    cached = '0.0.0';
  }
  return cached;
}
