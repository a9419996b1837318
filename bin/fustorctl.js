#!/usr/bin/env node
// Runs fustorctl (cli/fustorctl.ts) from its TypeScript sources through tsx's loader; see `fustorctl --help`.
import { register } from 'tsx/esm/api';

register();
await import('../cli/fustorctl.ts');
