import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';
import { AGENT_BUNDLE, inspectAgentPackage, InvalidPackageError, LAUNCHER_BUNDLE } from '../../shared/package/agent-package.js';
import { readTarGz, TarError, writeTarGz, type TarEntry } from '../../shared/package/tar.js';
import { installPackage } from '../../agent/upgrade/package-install.js';
import { upgradePaths } from '../../agent/upgrade/upgrade-paths.js';
import { tempHome } from '../harness/temp-home.js';
import { buildPackage } from './upgrade-fixtures.js';

const run = promisify(execFile);
const file = (p: string, data: string, mode = 0o644): TarEntry => ({ type: 'file', path: p, mode, data: Buffer.from(data) });

describe('agent package format', function () {
  this.timeout(30_000);
  let dir: { path: string; remove(): Promise<void> };

  beforeEach(async () => {
    dir = await tempHome('package-format-');
  });
  afterEach(async () => {
    await dir.remove();
  });

  describe('tar', () => {
    const longPath = `package/${'deep/'.repeat(25)}file.txt`;

    it('reads back what it writes, long paths and modes included, and system tar reads it too', async () => {
      const entries: TarEntry[] = [{ type: 'dir', path: 'package', mode: 0o755 }, file('package/a.txt', 'hello'), file(longPath, 'deep', 0o755), file('package/empty', '')];
      const archive = writeTarGz(entries);
      expect(readTarGz(archive)).to.deep.equal(entries);
      expect(writeTarGz(entries).equals(archive)).to.equal(true); // deterministic
      const target = path.join(dir.path, 'archive.tgz');
      await writeFile(target, archive);
      const { stdout } = await run('tar', ['-tzf', target]);
      expect(stdout.trim().split('\n')).to.deep.equal(['package/', 'package/a.txt', longPath, 'package/empty']);
    });

    for (const format of ['gnu', 'posix', 'ustar']) {
      it(`reads an archive system tar wrote in ${format} format`, async () => {
        const src = path.join(dir.path, 'src');
        await mkdir(path.join(src, 'package', ...'deep/'.repeat(25).split('/').filter(Boolean)), { recursive: true });
        await writeFile(path.join(src, longPath), 'deep');
        const target = path.join(dir.path, 'sys.tgz');
        await run('tar', [`--format=${format}`, '-czf', target, '-C', src, 'package']);
        const entries = readTarGz(await readFile(target));
        const deep = entries.find((e) => e.path === longPath);
        expect(deep?.type).to.equal('file');
        expect(deep?.type === 'file' && deep.data.toString()).to.equal('deep');
      });
    }

    it('refuses members that could write outside the directory: "..", absolute paths, links', async () => {
      const base = path.join(dir.path, 'base');
      await mkdir(path.join(base, 'inner'), { recursive: true });
      await writeFile(path.join(base, 'outside.txt'), 'x');
      const dotdot = path.join(dir.path, 'dotdot.tgz');
      await run('tar', ['-czPf', dotdot, '../outside.txt'], { cwd: path.join(base, 'inner') });
      expect(() => readTarGz(readFileSync(dotdot))).to.throw(TarError, 'not allowed');
      const absolute = path.join(dir.path, 'absolute.tgz');
      await run('tar', ['-czPf', absolute, path.join(base, 'outside.txt')]);
      expect(() => readTarGz(readFileSync(absolute))).to.throw(TarError, 'not allowed');
      await symlink('/etc/passwd', path.join(base, 'link'));
      const linked = path.join(dir.path, 'link.tgz');
      await run('tar', ['-czf', linked, '-C', base, 'link']);
      expect(() => readTarGz(readFileSync(linked))).to.throw(TarError, 'symbolic link');
    });

    it('refuses a corrupt header, a truncated member and what is not gzip', () => {
      const tar = gunzipSync(writeTarGz([file('package/a.txt', 'x'.repeat(600))]));
      const corrupt = Buffer.from(tar);
      corrupt[10] = corrupt[10]! ^ 0xff;
      expect(() => readTarGz(gzipSync(corrupt))).to.throw(TarError, 'checksum');
      expect(() => readTarGz(gzipSync(tar.subarray(0, 700)))).to.throw(TarError, 'truncated');
      expect(() => readTarGz(Buffer.from('plain text'))).to.throw(TarError, 'gzip');
      expect(() => readTarGz(writeTarGz([file('a', 'x'.repeat(2000))]), { maxBytes: 100 })).to.throw(TarError);
    });
  });

  describe('agent packages', () => {
    it('builds a self-contained package whose agent and launcher run on plain node', async () => {
      const built = await buildPackage(dir.path, '3.4.5-rc.1');
      expect(path.basename(built.file)).to.equal('fustor-agent-3.4.5-rc.1.tgz');
      const archive = await readFile(built.file);
      const { manifest, entries } = inspectAgentPackage(archive);
      expect(manifest).to.include({ name: 'fustor-agent', version: '3.4.5-rc.1', type: 'module' });
      expect(manifest.bin).to.deep.equal({ 'fustor-agent': LAUNCHER_BUNDLE });
      expect(entries.map((e) => e.path).sort()).to.deep.equal([AGENT_BUNDLE, LAUNCHER_BUNDLE, 'package.json'].sort());
      const home = path.join(dir.path, 'home');
      await installPackage(home, archive, '3.4.5-rc.1', []);
      const installed = upgradePaths(home).version('3.4.5-rc.1');
      for (const bundle of [AGENT_BUNDLE, LAUNCHER_BUNDLE]) {
        const { stdout } = await run(process.execPath, [path.join(installed, bundle), '--help'], { env: { PATH: process.env.PATH ?? '' } });
        expect(stdout).to.match(/^Usage: fustor-agent/);
      }
      expect(await readFile(path.join(installed, AGENT_BUNDLE), 'utf8')).not.to.include('better-sqlite3');
    });

    it('refuses archives that are not agent packages, and an install under another version', async () => {
      const bundle = file(`package/${AGENT_BUNDLE}`, 'export {};');
      const manifest = (json: unknown): TarEntry => file('package/package.json', JSON.stringify(json));
      const refuse = (entries: TarEntry[], message: string): void => {
        expect(() => inspectAgentPackage(writeTarGz(entries))).to.throw(InvalidPackageError, message);
      };
      refuse([bundle], 'no package/package.json');
      refuse([manifest({ name: 'fustor-agent', version: '1.0.0' })], `no package/${AGENT_BUNDLE}`);
      refuse([manifest({ name: 'fustor-agent', version: '../1' }), bundle], 'version');
      refuse([manifest({ name: 'fustor-agent', version: '1.0.0' }), bundle, file('elsewhere/x', '')], 'outside package/');
      refuse([file('package/package.json', '{'), bundle], 'not JSON');
      const good = writeTarGz([manifest({ name: 'fustor-agent', version: '1.0.0' }), bundle]);
      expect(inspectAgentPackage(good).manifest.version).to.equal('1.0.0');
      const home = path.join(dir.path, 'home');
      let error: unknown;
      await installPackage(home, good, '2.0.0', []).catch((err: unknown) => (error = err));
      expect(error).to.have.property('code', 'invalid_package');
      expect((error as Error).message).to.include('declares version 1.0.0');
    });

    it('installs beside the running version and removes the others', async () => {
      const home = path.join(dir.path, 'home');
      const pkg = (version: string): Buffer =>
        writeTarGz([file('package/package.json', JSON.stringify({ name: 'fustor-agent', version })), file(`package/${AGENT_BUNDLE}`, `// ${version}`)]);
      await installPackage(home, pkg('1.0.0'), '1.0.0', []);
      await installPackage(home, pkg('1.1.0'), '1.1.0', ['1.0.0']);
      await installPackage(home, pkg('1.2.0'), '1.2.0', ['1.1.0']);
      const { stdout } = await run('ls', ['-A', upgradePaths(home).versions]);
      expect(stdout.trim().split('\n').sort()).to.deep.equal(['1.1.0', '1.2.0']);
      expect(await readFile(upgradePaths(home).bundle('1.2.0'), 'utf8')).to.equal('// 1.2.0');
    });
  });
});
