#!/usr/bin/env node
// `fustorctl` (cli/fustorctl.ts) from its compiled bundle, dist/bin/fustorctl.mjs; see `fustorctl --help`.
import { runCompiled } from './run-compiled.js';

await runCompiled('fustorctl', 'bin/fustorctl.mjs');
