/**
 * The launcher as an agent package runs it (dist/launcher.mjs, the package's
 * `fustor-agent` bin): its built-in agent is the package's own dist/agent.mjs.
 */
import { fileURLToPath } from 'node:url';
import { launchProcess } from './run-launcher.js';

const builtin = { script: fileURLToPath(new URL('./agent.mjs', import.meta.url)), execArgv: [] };

launchProcess(builtin);
