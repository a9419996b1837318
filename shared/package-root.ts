import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The directory of the nearest package.json above a module (pass its
 * `import.meta.url`). A module reaches the package's files (ui/,
 * package.json) through this rather than a fixed number of `..`, because the
 * same module runs from its source (`server/http/`), from the compiled tree
 * (`dist/server/http/`) and bundled into an agent package (`dist/agent.mjs`).
 */
export function packageRoot(moduleUrl: string): string {
  const start = dirname(fileURLToPath(moduleUrl));
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${start}`);
  }
}

/** True when the calling module runs from its TypeScript source (through tsx) rather than compiled JavaScript. */
export function runsFromSource(moduleUrl: string): boolean {
  return moduleUrl.endsWith('.ts');
}
