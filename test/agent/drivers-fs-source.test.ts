import { expect } from 'chai';
import fs from 'node:fs/promises';
import path from 'node:path';
import { emptyScanCounters, type FileRecord, type ScanCounters } from '../../agent/runtime/driver-types.js';
import { INLINE_WALK_LIMIT, walkInline } from '../../agent/drivers/inline-walk.js';
import { prepareWalkWorker, spareWalkWorker, walkInWorker } from '../../agent/drivers/worker-walk.js';
import { nodeFsOps, type FsOps } from '../../agent/drivers/fs-ops.js';
import { FsSource } from '../../agent/drivers/fs-source.js';
import { tempDir, writeTree } from './runtime-fixtures.js';

async function collect(
  source: FsSource,
  options: { path?: string; recursive?: boolean; batchSize?: number } = {},
): Promise<{ batches: FileRecord[][]; counters: ScanCounters }> {
  const scan = source.scan({
    path: options.path ?? '',
    recursive: options.recursive ?? true,
    batchSize: options.batchSize ?? 500,
    signal: new AbortController().signal,
  });
  const batches: FileRecord[][] = [];
  for await (const batch of scan) {
    const records = JSON.parse(batch.json) as FileRecord[];
    expect(records).to.have.length(batch.count);
    batches.push(records);
  }
  return { batches, counters: scan.counters };
}

const paths = (batches: FileRecord[][]): string[] => batches.flat().map((r) => r.path).sort();

describe('fs source driver', () => {
  let dir: { path: string; remove(): Promise<void> };
  let root: string;
  let outside: string;

  beforeEach(async () => {
    dir = await tempDir('fustor-fs-');
    root = path.join(dir.path, 'root');
    outside = path.join(dir.path, 'outside');
    await writeTree(root, { 'a.txt': '12345', 'd/b.txt': 'abc', 'd/e/c.txt': '', 'd/f': null });
    await writeTree(outside, { 'secret.txt': 'do not read' });
    await fs.symlink(outside, path.join(root, 'escape'));
    await fs.symlink('d/e', path.join(root, 'inner-link'));
  });

  afterEach(async () => {
    await dir.remove();
  });

  it('walks the tree into root-relative records, reporting symlinks without following them', async () => {
    const source = new FsSource(root);
    await source.open();
    const { batches, counters } = await collect(source);
    expect(paths(batches)).to.deep.equal(['', 'a.txt', 'd', 'd/b.txt', 'd/e', 'd/e/c.txt', 'd/f', 'escape', 'inner-link']);
    const byPath = new Map(batches.flat().map((r) => [r.path, r]));
    const stats = await fs.stat(path.join(root, 'a.txt'));
    expect(byPath.get('a.txt')).to.deep.equal({
      op: 'upsert',
      path: 'a.txt',
      type: 'file',
      size: 5,
      mtime_ms: Math.floor(stats.mtimeMs),
      mode: stats.mode & 0o7777,
    });
    expect(byPath.get('')).to.include({ type: 'dir', size: 0 });
    expect(byPath.get('escape')!.type).to.equal('symlink');
    expect(byPath.get('inner-link')!.type).to.equal('symlink');
    expect(counters).to.include({ files: 3, dirs: 4, symlinks: 2, bytes: 8, unreadable: 0 });
  });

  it('streams batches of at most batchSize records', async () => {
    const source = new FsSource(root);
    await source.open();
    const { batches } = await collect(source, { batchSize: 2 });
    expect(batches.length).to.equal(5);
    expect(batches.every((b) => b.length >= 1 && b.length <= 2)).to.equal(true);
    expect(paths(batches)).to.have.length(9);
  });

  it('scans a subtree, recursively or one level deep', async () => {
    const source = new FsSource(root);
    await source.open();
    expect(paths((await collect(source, { path: 'd' })).batches)).to.deep.equal(['d', 'd/b.txt', 'd/e', 'd/e/c.txt', 'd/f']);
    expect(paths((await collect(source, { path: 'd', recursive: false })).batches)).to.deep.equal(['d', 'd/b.txt', 'd/e', 'd/f']);
    expect(paths((await collect(source, { path: 'a.txt' })).batches)).to.deep.equal(['a.txt']);
  });

  it('resolves paths relative to the root or absolute inside it, and refuses anything outside', async () => {
    const source = new FsSource(root);
    expect(await source.resolvePath('d/e')).to.equal('d/e');
    expect(await source.resolvePath('./d/../d/e/')).to.equal('d/e');
    expect(await source.resolvePath(path.join(root, 'd'))).to.equal('d');
    expect(await source.resolvePath('.')).to.equal('');
    expect(await source.resolvePath('inner-link')).to.equal('d/e');

    await expectRefusal(source.resolvePath('..'), /outside the source root/);
    await expectRefusal(source.resolvePath('d/../../outside'), /outside the source root/);
    await expectRefusal(source.resolvePath(outside), /outside the source root/);
    await expectRefusal(source.resolvePath('/etc'), /outside the source root/);
    await expectRefusal(source.resolvePath('escape'), /outside the source root .* through a symlink/);
    await expectRefusal(source.resolvePath('escape/secret.txt'), /through a symlink/);
    await expectRefusal(source.resolvePath('missing'), /does not exist/);
  });

  it('counts an unreadable directory and walks on past it', async () => {
    const unreadable = path.join(root, 'd', 'e');
    const ops: FsOps = {
      ...nodeFsOps,
      opendir: async (p, options) => {
        if (p === unreadable) throw Object.assign(new Error(`EACCES: permission denied, opendir '${p}'`), { code: 'EACCES' });
        return nodeFsOps.opendir(p, options);
      },
    };
    const source = new FsSource(root, { fs: ops });
    await source.open();
    const { batches, counters } = await collect(source);
    expect(paths(batches)).to.deep.equal(['', 'a.txt', 'd', 'd/b.txt', 'd/e', 'd/f', 'escape', 'inner-link']);
    expect(counters.unreadable).to.equal(1);
    expect(counters.unreadableSamples).to.deep.equal(['d/e: EACCES']);
  });

  it('refuses to open a root that is missing, a file, or not an absolute path', async () => {
    await expectRefusal(new FsSource(path.join(dir.path, 'nope')).open(), /source root .*nope does not exist/);
    await expectRefusal(new FsSource(path.join(root, 'a.txt')).open(), /is not a directory/);
    expect(() => new FsSource('relative/dir')).to.throw(/must be an absolute path/);
    const viaUrl = new FsSource(`file://${root}`);
    await viaUrl.open();
    expect(viaUrl.root).to.equal(root);
  });

  it('walks a small subtree on its own thread and a large one on a worker, with the same records', async () => {
    const big = path.join(root, 'd', 'big');
    await fs.mkdir(big);
    await Promise.all(Array.from({ length: INLINE_WALK_LIMIT + 100 }, (_, i) => fs.writeFile(path.join(big, `f${i}`), 'z')));
    const source = new FsSource(root);
    await source.open();
    const base = { root: await fs.realpath(root), recursive: true, batchSize: 100, signal: new AbortController().signal };
    expect(walkInline({ ...base, start: 'd/big', counters: emptyScanCounters() }), 'over the limit').to.equal(null);
    const large = await collect(source, { path: 'd/big' });
    expect(large.counters.files).to.equal(INLINE_WALK_LIMIT + 100);

    const inline = walkInline({ ...base, start: 'd/e', counters: emptyScanCounters() })!;
    const worker: string[] = [];
    for await (const batch of walkInWorker({ ...base, start: 'd/e', counters: emptyScanCounters() })) worker.push(...(JSON.parse(batch.json) as FileRecord[]).map((r) => JSON.stringify(r)));
    expect(inline.flatMap((b) => (JSON.parse(b.json) as FileRecord[]).map((r) => JSON.stringify(r))).sort()).to.deep.equal(worker.sort()).and.have.length(2);
  });

  it('keeps the walk worker of a walk that ran to its end for the next walk, and ends one stopped midway', async () => {
    const base = { root: await fs.realpath(root), start: '', recursive: true, batchSize: 1, signal: new AbortController().signal };
    const walk = async (): Promise<string[]> => {
      const seen: string[] = [];
      for await (const batch of walkInWorker({ ...base, counters: emptyScanCounters() })) seen.push(...(JSON.parse(batch.json) as FileRecord[]).map((r) => r.path));
      return seen.sort();
    };
    const all = ['', 'a.txt', 'd', 'd/b.txt', 'd/e', 'd/e/c.txt', 'd/f', 'escape', 'inner-link'];
    expect(await walk()).to.deep.equal(all);
    const kept = spareWalkWorker();
    expect(kept, 'the spare after a whole walk').to.be.a('number');
    expect(await walk(), 'the second walk, on the kept worker').to.deep.equal(all);
    expect(spareWalkWorker()).to.equal(kept);

    for await (const batch of walkInWorker({ ...base, counters: emptyScanCounters() })) {
      expect(batch.count).to.equal(1);
      expect(spareWalkWorker(), 'taken while it walks').to.equal(null);
      break;
    }
    expect(spareWalkWorker(), 'a worker stopped midway is not kept').to.equal(null);
    prepareWalkWorker();
    const fresh = spareWalkWorker();
    expect(fresh).to.be.a('number').and.not.equal(kept);
    expect(await walk(), 'a walk after a stopped one sees only its own batches').to.deep.equal(all);
    expect(spareWalkWorker()).to.equal(fresh);
  });

  it('stops walking when its signal aborts', async () => {
    const source = new FsSource(root);
    await source.open();
    const controller = new AbortController();
    const scan = source.scan({ path: '', recursive: true, batchSize: 1, signal: controller.signal });
    let seen = 0;
    let error: unknown;
    try {
      for await (const batch of scan) {
        seen += batch.count;
        controller.abort(new Error('stop now'));
      }
    } catch (err) {
      error = err;
    }
    expect(seen).to.equal(1);
    expect((error as Error).message).to.equal('stop now');
  });
});

async function expectRefusal(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  let error: unknown;
  await promise.catch((err: unknown) => (error = err));
  expect(error, `expected a rejection matching ${pattern}`).to.be.instanceOf(Error);
  expect((error as Error).message).to.match(pattern);
}
