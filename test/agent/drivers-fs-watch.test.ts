import { expect } from 'chai';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { TreeWatcher, watchBudget } from '../../agent/drivers/fs-watch.js';
import type { FileRecord, RealtimeStatus, SourceChanges } from '../../agent/runtime/driver-types.js';
import { eventually } from '../harness/eventually.js';
import { tempDir, writeTree } from './runtime-fixtures.js';

describe('fs source: watching a tree', () => {
  let dir: { path: string; remove(): Promise<void> };
  let controller: AbortController;
  let reports: SourceChanges[];
  let status: RealtimeStatus | null;

  beforeEach(async () => {
    dir = await tempDir('fustor-watch-');
    controller = new AbortController();
    reports = [];
    status = null;
  });
  afterEach(async () => {
    controller.abort();
    await dir.remove();
  });

  function watcher(budget: number): TreeWatcher {
    return new TreeWatcher({
      root: dir.path,
      budget,
      debounceMs: 100,
      signal: controller.signal,
      handlers: {
        changes: async (changes) => {
          reports.push(changes);
        },
        status: (s) => (status = s),
      },
    });
  }
  const records = (): FileRecord[] => reports.flatMap((r) => r.records);
  const last = (p: string): FileRecord | undefined => records().filter((r) => r.path === p).at(-1);

  it('reports creates, changes and deletes once per burst, and a directory that appears whole for a walk', async () => {
    await writeTree(dir.path, { 'a/keep.txt': 'k' });
    const w = watcher(100);
    w.adoptAll([['', 0], ['a', 0]]);
    expect(status).to.deep.equal({ state: 'on', watched_dirs: 2, total_dirs: 2 });

    for (let i = 0; i < 20; i++) await writeFile(path.join(dir.path, 'a', 'hot.txt'), 'x'.repeat(i + 1));
    await eventually(() => last('a/hot.txt')?.size === 20);
    expect(records().filter((r) => r.path === 'a/hot.txt').length).to.be.below(20);

    await rm(path.join(dir.path, 'a', 'hot.txt'));
    await eventually(() => last('a/hot.txt')?.op === 'delete');

    // Built elsewhere, moved in: only a walk can report what it holds.
    await writeTree(path.join(dir.path, '..', `${path.basename(dir.path)}-out`), { 'x/1.txt': '1', 'x/y/2.txt': '2' });
    await rename(path.join(dir.path, '..', `${path.basename(dir.path)}-out`, 'x'), path.join(dir.path, 'a', 'x'));
    await rm(path.join(dir.path, '..', `${path.basename(dir.path)}-out`), { recursive: true });
    await eventually(() => reports.some((r) => r.rescan.includes('a/x')));
    // An empty directory needs no walk: it is watched at once.
    await mkdir(path.join(dir.path, 'a', 'empty'));
    await eventually(() => last('a/empty')?.type === 'dir');
    expect(reports.flatMap((r) => r.rescan)).to.not.include('a/empty');
    expect(w.watchedCount).to.equal(4);

    await rename(path.join(dir.path, 'a'), path.join(dir.path, 'b'));
    await eventually(() => last('a')?.op === 'delete' && reports.some((r) => r.rescan.includes('b')));
    expect(w.watchedCount, 'the watches of the renamed tree ended').to.equal(2);
  });

  it('watches the most recently changed directories within its budget, and says so', async () => {
    await writeTree(dir.path, { 'old/x': 'x', 'new/y': 'y', 'mid/z': 'z' });
    const w = watcher(2);
    w.adoptAll([['', 300], ['old', 100], ['new', 400], ['mid', 200]]);
    expect(w.watchedCount).to.equal(2);
    expect(status).to.include({ state: 'partial', watched_dirs: 2, total_dirs: 4 });
    expect(status!.reason).to.match(/most recently changed of 4 directories.*covered by audits/);
    await writeFile(path.join(dir.path, 'new', 'seen.txt'), 's');
    await writeFile(path.join(dir.path, 'old', 'unseen.txt'), 'u');
    await eventually(() => last('new/seen.txt') !== undefined);
    expect(last('old/unseen.txt')).to.equal(undefined);
  });

  it('takes half the kernel limit by default, and never more than it', () => {
    const { budget, limit } = watchBudget(undefined);
    if (limit !== null) {
      expect(budget).to.equal(Math.floor(limit / 2));
      expect(watchBudget(limit * 2).budget).to.equal(limit);
    }
    expect(watchBudget(7).budget).to.equal(7);
  });
});
