import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { isAscii } from 'node:buffer';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { tempHome } from '../harness/temp-home.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BUNDLE = join(ROOT, 'dist', 'bin', 'fusion.cjs');
const run = promisify(execFile);

/**
 * Compiles `bundle` as bin/fusion.js does, in a child with plain node (the V8
 * flags the cache was written with), and says whether V8 took the cache.
 */
async function compiles(bundle: string): Promise<{ usedCache: boolean }> {
  const loader = pathToFileURL(join(ROOT, 'bin', 'load-bundle.js')).href;
  const program = `import { compileBundle } from ${JSON.stringify(loader)}; process.stdout.write(JSON.stringify({ usedCache: compileBundle(${JSON.stringify(bundle)}).usedCache }));`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', program], { env: { ...process.env, NODE_OPTIONS: '' } });
  return JSON.parse(stdout) as { usedCache: boolean };
}

describe("Fusion's bundle and its code cache (npm run build)", function () {
  this.timeout(30_000);

  it('is pure ASCII, so it is read as a one-byte string', async () => {
    expect(isAscii(await readFile(BUNDLE))).to.equal(true);
  });

  it('is compiled with the code cache the build wrote beside it', async () => {
    expect(await compiles(BUNDLE)).to.deep.equal({ usedCache: true });
  });

  it("ignores a cache that is not this build's: another build id, or a damaged header", async () => {
    const home = await tempHome('code-cache-');
    try {
      const source = await readFile(BUNDLE, 'latin1');
      const id = /^\/\/ fustor-build ([0-9a-f]{32})$/m.exec(source)![1]!;
      // Same length, another id: V8's own check (source length) would accept the cache.
      const other = join(home.path, 'other.cjs');
      await writeFile(other, source.replace(id, id.replace(/./, (c) => (c === '0' ? '1' : '0'))), 'latin1');
      await copyFile(`${BUNDLE}.cache`, `${other}.cache`);
      expect(await compiles(other)).to.deep.equal({ usedCache: false });
      const damaged = join(home.path, 'damaged.cjs');
      await copyFile(BUNDLE, damaged);
      await writeFile(`${damaged}.cache`, (await readFile(`${BUNDLE}.cache`)).subarray(5));
      expect(await compiles(damaged)).to.deep.equal({ usedCache: false });
      // Without any cache the bundle still compiles (the cache only saves time).
      const bare = join(home.path, 'bare.cjs');
      await copyFile(BUNDLE, bare);
      expect(await compiles(bare)).to.deep.equal({ usedCache: false });
    } finally {
      await home.remove();
    }
  });
});
