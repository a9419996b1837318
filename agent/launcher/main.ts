/**
 * The launcher as the repository runs it (bin/fustor-agent.js runs it from
 * dist/): its built-in agent is this repository's agent, compiled
 * (dist/agent/main.js, plain node) when the launcher itself is compiled, or
 * agent/main.ts through tsx's loader when the launcher runs from source.
 */
import { fileURLToPath } from 'node:url';
import { runsFromSource } from '../../shared/package-root.js';
import { launchProcess } from './run-launcher.js';

const builtin = runsFromSource(import.meta.url)
  ? { script: fileURLToPath(new URL('../main.ts', import.meta.url)), execArgv: ['--import', import.meta.resolve('tsx')] }
  : { script: fileURLToPath(new URL('../main.js', import.meta.url)), execArgv: [] };

launchProcess(builtin);
