#!/usr/bin/env node
// `fusion` / `npm start`: runs Fusion (server/main.ts) from its compiled JavaScript in dist/.
import { runCompiled } from './run-compiled.js';

await runCompiled('fusion', 'server/main.js');
