#!/usr/bin/env node
// `fusion` / `npm start`: runs Fusion (server/main.ts) from its compiled bundle,
// dist/bin/fusion.cjs, with the code cache the build wrote beside it (bin/load-bundle.js).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compileBundle } from './load-bundle.js';

const file = fileURLToPath(new URL('../dist/bin/fusion.cjs', import.meta.url));
if (!existsSync(file)) {
  process.stderr.write(`fusion: ${file} is missing; build it with: npm run build\n`);
  process.exit(1);
}
compileBundle(file).run();
