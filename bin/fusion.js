#!/usr/bin/env node
// `fusion` / `npm start`: runs Fusion (server/main.ts) from its compiled bundle, dist/bin/fusion.mjs.
import { runCompiled } from './run-compiled.js';

await runCompiled('fusion', 'bin/fusion.mjs');
