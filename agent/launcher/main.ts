/**
 * The launcher as the repository runs it (bin/fustor-agent.js): its built-in
 * agent is this repository's agent/main.ts, run through tsx's loader.
 */
import { fileURLToPath } from 'node:url';
import { runLauncher } from './run-launcher.js';

const builtin = {
  script: fileURLToPath(new URL('../main.ts', import.meta.url)),
  execArgv: ['--import', import.meta.resolve('tsx')],
};

runLauncher({ argv: process.argv.slice(2), env: process.env, builtin }).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`fustor-agent launcher: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
