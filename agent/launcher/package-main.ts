/**
 * The launcher as an agent package runs it (dist/launcher.mjs, the package's
 * `fustor-agent` bin): its built-in agent is the package's own dist/agent.mjs.
 */
import { fileURLToPath } from 'node:url';
import { runLauncher } from './run-launcher.js';

const builtin = { script: fileURLToPath(new URL('./agent.mjs', import.meta.url)), execArgv: [] };

runLauncher({ argv: process.argv.slice(2), env: process.env, builtin }).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`fustor-agent launcher: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
