/**
 * `npm run package:keygen [-- --out DIR]`: writes a new Ed25519 key pair for
 * signing agent packages: `fustor-package.key` (private, mode 0600: keep it
 * off Fusion, where packages are built) and `fustor-package.pub` (public: pin
 * it on agents as `package_public_key`). Refuses to overwrite either file.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { generateSigningKeyPair, keyFingerprint, verifyingKey } from '../shared/package/package-signature.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write('Usage: npm run package:keygen -- [--out <dir>]\n');
    return;
  }
  const dir = path.resolve(values.out ?? '.');
  const { privateKeyPem, publicKeyPem } = generateSigningKeyPair();
  const privateFile = path.join(dir, 'fustor-package.key');
  const publicFile = path.join(dir, 'fustor-package.pub');
  await writeFile(privateFile, privateKeyPem, { mode: 0o600, flag: 'wx' });
  await writeFile(publicFile, publicKeyPem, { mode: 0o644, flag: 'wx' });
  process.stdout.write(`${privateFile}  (private: sign with npm run package:agent -- --sign-key ${privateFile})\n${publicFile}  (public: package_public_key on agents)\n  ${keyFingerprint(verifyingKey(publicKeyPem))}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`package:keygen: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
