import { Readable } from 'node:stream';
import { runCli } from '../../cli/run.js';

/** What one in-process fustorctl run printed and returned. */
export interface CliRun {
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs fustorctl in-process against `url` with `token` (FUSION_URL /
 * FUSION_TOKEN), optionally with text on stdin and an AbortSignal standing
 * in for Ctrl-C.
 */
export async function fustorctl(
  argv: string[],
  options: { url?: string; token?: string; stdin?: string; signal?: AbortSignal; env?: Record<string, string | undefined> } = {},
): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const status = await runCli(argv, {
    env: { FUSION_URL: options.url, FUSION_TOKEN: options.token, ...options.env },
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    ...(options.stdin !== undefined ? { stdin: Readable.from([Buffer.from(options.stdin)]) } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return { status, stdout, stderr };
}

/** Starts fustorctl and returns its live output, for long-running commands (`watch`). */
export function startFustorctl(argv: string[], options: { url: string; token: string }): { output: () => string; stop: () => Promise<CliRun> } {
  const abort = new AbortController();
  let stdout = '';
  let stderr = '';
  const done = runCli(argv, {
    env: { FUSION_URL: options.url, FUSION_TOKEN: options.token },
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    signal: abort.signal,
  });
  return {
    output: () => stdout,
    async stop() {
      abort.abort();
      const status = await done;
      return { status, stdout, stderr };
    },
  };
}
