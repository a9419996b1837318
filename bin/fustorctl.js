#!/usr/bin/env node
// `fustorctl` (cli/fustorctl.ts) from its compiled JavaScript in dist/; see `fustorctl --help`.
import { runCompiled } from './run-compiled.js';

await runCompiled('fustorctl', 'cli/fustorctl.js');
