/**
 * The launcher as the repository runs it (bin/fustor-agent.js): its built-in
 * agent is this repository's agent/main.ts, run through tsx's loader.
 */
import { fileURLToPath } from 'node:url';
import { launchProcess } from './run-launcher.js';

const builtin = {
  script: fileURLToPath(new URL('../main.ts', import.meta.url)),
  execArgv: ['--import', import.meta.resolve('tsx')],
};

launchProcess(builtin);
