/**
 * `npm run package:agent [-- --version X] [--out DIR] [--sign-key KEY.pem]`:
 * builds `fustor-agent-<version>.tgz` (default version: package.json's;
 * default directory: dist/) and prints its path, size and sha256. With
 * `--sign-key` (an Ed25519 private key, see `npm run package:keygen`) it also
 * signs the package, writes the base64 signature to `<file>.sig` and prints
 * it. Upload with `POST /api/v1/management/packages` (the signature in the
 * `X-Package-Signature` header), or `fustorctl package upload <file>`.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { keyFingerprint, signingKey } from '../shared/package/package-signature.js';
import { buildAgentPackage, REPOSITORY_ROOT } from './agent-package-builder.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { version: { type: 'string' }, out: { type: 'string' }, 'sign-key': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write('Usage: npm run package:agent -- [--version <version>] [--out <dir>] [--sign-key <ed25519-private-key.pem>]\n');
    return;
  }
  const key = values['sign-key'] === undefined ? undefined : signingKey(await readFile(values['sign-key']));
  const built = await buildAgentPackage({
    outDir: path.resolve(values.out ?? path.join(REPOSITORY_ROOT, 'dist')),
    ...(values.version !== undefined && { version: values.version }),
    ...(key !== undefined && { signKey: key }),
  });
  process.stdout.write(`${built.file}\n  version ${built.version}\n  size    ${built.size} bytes\n  sha256  ${built.sha256}\n`);
  if (built.signature && key) {
    process.stdout.write(`  signed  ${keyFingerprint(key)}\n  signature ${built.signature}\n  (written to ${built.signatureFile})\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`package:agent: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
