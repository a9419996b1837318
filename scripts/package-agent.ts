/**
 * `npm run package:agent [-- --version X] [--out DIR]`: builds
 * `fustor-agent-<version>.tgz` (default version: package.json's; default
 * directory: dist/) and prints its path, size and sha256. Upload it to Fusion
 * with `POST /api/v1/management/packages`.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildAgentPackage, REPOSITORY_ROOT } from './agent-package-builder.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { version: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write('Usage: npm run package:agent -- [--version <version>] [--out <dir>]\n');
    return;
  }
  const built = await buildAgentPackage({
    outDir: path.resolve(values.out ?? path.join(REPOSITORY_ROOT, 'dist')),
    ...(values.version !== undefined && { version: values.version }),
  });
  process.stdout.write(`${built.file}\n  version ${built.version}\n  size    ${built.size} bytes\n  sha256  ${built.sha256}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`package:agent: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
