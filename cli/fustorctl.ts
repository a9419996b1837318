#!/usr/bin/env node
/**
 * `fustorctl`: the admin command line of Fusion, an HTTP client of the
 * public management API (FUSION_URL, FUSION_TOKEN). See `fustorctl --help`.
 */
import { runCli } from './run.js';

const abort = new AbortController();
let interrupted = false;
process.on('SIGINT', () => {
  if (interrupted) process.exit(130);
  interrupted = true;
  abort.abort();
});

const status = await runCli(process.argv.slice(2), {
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  signal: abort.signal,
});
process.exitCode = interrupted && status === 0 ? 0 : status;
