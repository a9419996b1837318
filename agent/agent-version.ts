import { readFileSync } from 'node:fs';

let cached: string | undefined;

/**
 * The agent software version, from the package's package.json (reported in `hello`).
 * Read once; "0.0.0" when the file cannot be read, so a packaging slip never stops the agent.
 */
export function agentVersion(): string {
  if (cached !== undefined) return cached;
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    cached = typeof pkg.version === 'string' && pkg.version.length > 0 ? pkg.version : '0.0.0';
  } catch {
    cached = '0.0.0';
  }
  return cached;
}
