#!/usr/bin/env node
// Runs Fusion from its TypeScript sources through tsx's loader.
import { register } from 'tsx/esm/api';

register();
await import('../server/main.ts');
