/**
 * Writes the V8 code cache of a CommonJS bundle (`<bundle>.cache`, read by
 * bin/load-bundle.js) during `npm run build`: Fusion is started once on a
 * temporary home, stopped once it listens, and the bytecode of everything the
 * start compiled is saved. Without a cache a start compiles the whole bundle
 * (docs/benchmarks.md, "Start time").
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { cacheFileOf } from '../bin/load-bundle.js';

const CHILD = path.join(import.meta.dirname, 'lib', 'code-cache-child.mjs');
/** A start that takes longer than this is a broken build, not a slow machine. */
const TIMEOUT_MS = 60_000;

export async function writeCodeCache(bundle: string): Promise<void> {
  const home = await mkdtemp(path.join(os.tmpdir(), 'fusion-code-cache-'));
  try {
    await rm(cacheFileOf(bundle), { force: true });
    const child = spawn(process.execPath, [CHILD, bundle, '--port', '0', '--home', home], {
      // No NODE_OPTIONS and no loader: the V8 flags must be those of `node bin/fusion.js`.
      env: { PATH: process.env.PATH ?? '', FUSTOR_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('"msg":"Fusion listening"')) child.kill('SIGTERM');
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await exited;
    clearTimeout(timer);
    if (code !== 0 || !existsSync(cacheFileOf(bundle))) {
      throw new Error(`could not write the code cache of ${bundle} (exit ${code}): ${output.slice(-2000)}`);
    }
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}
