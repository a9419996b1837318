#!/usr/bin/env node
// Runs fustorctl (server/cli/fustorctl.ts) from its TypeScript sources through tsx's loader; see `fustorctl --help`.
import { register } from 'tsx/esm/api';

register();
await import('../server/cli/fustorctl.ts');
