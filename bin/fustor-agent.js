#!/usr/bin/env node
// `fustor-agent`: the launcher (agent/launcher/main.ts), run through tsx's ESM
// loader. It runs the agent (this repository's, or the installed version the
// `current` pointer in $FUSTOR_HOME/agent names), restarts it into a new
// version after an upgrade and rolls back a version that does not start; see
// `fustor-agent --help` for the agent's options.
import { register } from 'tsx/esm/api';

register();
await import('../agent/launcher/main.ts');
