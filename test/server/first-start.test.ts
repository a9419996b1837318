import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { eventually } from '../harness/eventually.js';
import { tempHome } from '../harness/temp-home.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs `server/main.ts` until it listens, then SIGTERM; returns everything it printed and its exit code. */
async function runOnce(home: string, env: Record<string, string> = {}): Promise<{ output: string; code: number | null; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts', '--port', '0', '--home', home], {
    cwd: ROOT,
    env: { ...process.env, FUSION_ADMIN_TOKEN: '', FUSION_ENROLLMENT_TOKEN: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const url = await eventually(() => /"url":"(http:\/\/[^"]+)"/.exec(output)?.[1], { timeoutMs: 20_000 });
  const health = await fetch(`${url}/healthz`);
  expect(health.status).to.equal(200);
  child.kill('SIGTERM');
  const code = await exited;
  return { output, code, url };
}

describe('Fusion first start', function () {
  this.timeout(60_000);

  it('prints a new admin token, enrollment token and data API key once, stores only hashes, and stops cleanly on SIGTERM', async () => {
    const home = await tempHome('fusion-first-');
    try {
      const first = await runOnce(home.path);
      expect(first.code).to.equal(0);
      const admin = /admin token:\s+(\S+)/.exec(first.output)?.[1];
      const enrollment = /enrollment token:\s+(\S+)/.exec(first.output)?.[1];
      expect(admin).to.match(/^fadm_/);
      expect(enrollment).to.match(/^fenr_/);
      expect(first.output).to.match(/data API key:/);
      expect(first.output, first.output).to.match(/"msg":"Fusion stopped"/);
      const second = await runOnce(home.path);
      expect(second.output).to.not.match(/admin token:/);
      const { default: Database } = await import('better-sqlite3');
      const db = new Database(`${home.path}/fusion.db`, { readonly: true });
      const hashes = db.prepare('SELECT hash FROM tokens').all() as Array<{ hash: string }>;
      db.close();
      expect(hashes.length).to.be.at.least(2);
      const dump = JSON.stringify(hashes);
      expect(dump).to.not.include(admin!);
      expect(dump).to.not.include(enrollment!);
    } finally {
      await home.remove();
    }
  });
});
