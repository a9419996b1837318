#!/usr/bin/env node
// `fustor-agent`: the launcher (agent/launcher/main.ts), from its compiled
// JavaScript in dist/. It runs the agent (this repository's dist/agent/main.js,
// or the installed version the `current` pointer in $FUSTOR_HOME/agent names),
// restarts it into a new version after an upgrade and rolls back a version
// that does not start; see `fustor-agent --help` for the agent's options.
import { runCompiled } from './run-compiled.js';

await runCompiled('fustor-agent', 'agent/launcher/main.js');
