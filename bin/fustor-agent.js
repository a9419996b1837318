#!/usr/bin/env node
// Launches the agent CLI (agent/main.ts) through tsx's ESM loader, so the
// TypeScript sources run as they are; see `fustor-agent --help`.
import { register } from 'tsx/esm/api';

register();
await import('../agent/main.ts');
