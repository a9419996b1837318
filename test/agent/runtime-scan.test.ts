import { expect } from 'chai';
import fs from 'node:fs/promises';
import path from 'node:path';
import { nodeFsOps, type FsOps } from '../../agent/drivers/fs-ops.js';
import type { AgentPipeRuntime } from '../../agent/runtime/pipe-runtime.js';
import { eventually } from '../harness/eventually.js';
import { configFor, fastRuntime, tempDir, writeTree } from './runtime-fixtures.js';
import { TestReceiver } from './runtime-receiver.js';

describe('pipe runtime: scan', () => {
  let receiver: TestReceiver;
  let runtime: AgentPipeRuntime;
  let dir: { path: string; remove(): Promise<void> };
  let root: string;
  let outside: string;
  /** File-system calls the fs source made, by path. */
  let reads: string[];
  /** Directory the fs source is made to find unreadable. */
  let unreadableDir: string | null;

  beforeEach(async () => {
    receiver = new TestReceiver();
    await receiver.listen();
    dir = await tempDir('fustor-scan-');
    root = path.join(dir.path, 'root');
    outside = path.join(dir.path, 'outside');
    await writeTree(root, { 'top.txt': 't', 'sub/a.txt': 'aaaa', 'sub/inner/b.txt': 'bb', 'sub/locked/c.txt': 'c', other: null });
    await writeTree(outside, { 'secret.txt': 'secret' });
    await fs.symlink(outside, path.join(root, 'escape'));
    reads = [];
    unreadableDir = null;
    const ops: FsOps = {
      ...nodeFsOps,
      lstat: (p) => {
        reads.push(p);
        return nodeFsOps.lstat(p);
      },
      opendir: async (p, options) => {
        reads.push(p);
        if (p === unreadableDir) throw Object.assign(new Error(`EACCES: permission denied, opendir '${p}'`), { code: 'EACCES' });
        return nodeFsOps.opendir(p, options);
      },
    };
    runtime = fastRuntime({ fs: { fs: ops } });
  });

  afterEach(async () => {
    await runtime.stop();
    await receiver.close();
    await dir.remove();
  });

  async function startPipes(ids: string[] = ['p'], audit_interval_sec = 3600): Promise<void> {
    // Realtime off: what reaches the receiver comes from the snapshots alone.
    const pipes = Object.fromEntries(ids.map((id) => [id, { root, url: receiver.url, batch_size: 2, audit_interval_sec, realtime: false }]));
    await runtime.apply(configFor(pipes));
    await eventually(() => ids.every((id) => receiver.batches.some((b) => b.pipe_id === id && b.scan?.done)));
  }

  it('pushes a subtree through the pipe and resolves once Fusion accepted all of it', async () => {
    await startPipes();
    await writeTree(root, { 'sub/inner/new.txt': '12345' });
    const before = receiver.batches.length;
    receiver.failNextEvents = 1;

    const result = await runtime.scan({ path: 'sub/inner' });
    expect(result).to.include({ pipe: 'p', files: 2, dirs: 1, bytes: 7, records: 3, unreadable: 0 });
    expect(result.duration_ms).to.be.a('number');
    const scanBatches = receiver.batches.slice(before);
    expect(scanBatches.flatMap((b) => b.events.map((e) => e.path)).sort()).to.deep.equal(['sub/inner', 'sub/inner/b.txt', 'sub/inner/new.txt']);
    // A scan is a snapshot of its subtree: every batch says which, the last one is done.
    expect(scanBatches.every((b) => b.scan?.path === 'sub/inner' && b.scan.recursive === true)).to.equal(true);
    expect(scanBatches.at(-1)!.scan!.done).to.equal(true);
    expect(result.removed).to.equal(0);
    expect(receiver.answers).to.include('events 503');
  });

  it('takes an absolute path inside the root, and one level only when not recursive', async () => {
    await startPipes();
    const before = receiver.batches.length;
    const result = await runtime.scan({ path: path.join(root, 'sub'), recursive: false });
    expect(result).to.include({ files: 1, dirs: 3 });
    const scanned = receiver.batches.slice(before).flatMap((b) => b.events.map((e) => e.path)).sort();
    expect(scanned).to.deep.equal(['sub', 'sub/a.txt', 'sub/inner', 'sub/locked']);
  });

  it('refuses paths outside the source root before reading anything', async () => {
    await startPipes();
    const batches = receiver.batches.length;
    const readsBefore = reads.length;
    for (const [input, pattern] of [
      ['..', /path "\.\." is outside the source root/],
      ['sub/../../outside', /is outside the source root/],
      [outside, /is outside the source root/],
      ['/etc', /is outside the source root/],
      ['escape', /leads outside the source root .* through a symlink/],
      ['escape/secret.txt', /through a symlink/],
    ] as const) {
      let error: Error | undefined;
      await runtime.scan({ path: input }).catch((err: Error) => (error = err));
      expect(error?.message, input).to.match(pattern);
    }
    expect(reads.length, 'no entry was read').to.equal(readsBefore);
    expect(receiver.batches.length).to.equal(batches);
  });

  it('names the pipe when more than one runs', async () => {
    await startPipes(['p', 'q']);
    let error: Error | undefined;
    await runtime.scan({ path: 'sub' }).catch((err: Error) => (error = err));
    expect(error?.message).to.match(/2 pipes are running \(p, q\); name the pipe/);
    await runtime.scan({ path: 'x', pipe: 'nope' }).catch((err: Error) => (error = err));
    expect(error?.message).to.match(/no pipe "nope" is running \(running: p, q\)/);
    expect(await runtime.scan({ path: 'other', pipe: 'q' })).to.include({ pipe: 'q', dirs: 1, files: 0 });
  });

  it('refuses to scan when no pipe runs', async () => {
    let error: Error | undefined;
    await runtime.scan({ path: 'sub' }).catch((err: Error) => (error = err));
    expect(error?.message).to.equal('no pipe is running');
  });

  it('counts unreadable entries in the result and the pipe status, and delivers the rest', async () => {
    unreadableDir = path.join(root, 'sub', 'locked');
    await startPipes();
    await eventually(() => /audit: 1 unreadable entry skipped \(sub\/locked: EACCES\)/.test(runtime.status()[0]?.last_error ?? ''));
    expect(runtime.status()[0]!.state).to.equal('running');
    expect(receiver.pathsOf('p')).to.include('sub/locked').and.not.include('sub/locked/c.txt');

    const result = await runtime.scan({ path: 'sub' });
    expect(result).to.include({ unreadable: 1, files: 2 });
    expect(runtime.status()[0]!.last_error).to.match(/scan of "sub": 1 unreadable entry skipped/);
  });

  it('does not delete what an audit could not read, and reconciles it once it can', async () => {
    await startPipes(['p'], 0.05);
    await eventually(() => receiver.pathsOf('p').includes('sub/locked/c.txt'));
    unreadableDir = path.join(root, 'sub', 'locked');
    await fs.rm(path.join(root, 'sub', 'inner'), { recursive: true });
    await eventually(() => !receiver.pathsOf('p').includes('sub/inner/b.txt'));
    await eventually(() => /unreadable/.test(runtime.status()[0]?.last_error ?? ''));
    const doneBefore = receiver.batches.filter((b) => b.scan?.done).length;
    await eventually(() => receiver.batches.filter((b) => b.scan?.done).length >= doneBefore + 2);
    expect(receiver.pathsOf('p'), 'the unreadable directory keeps its known contents').to.include('sub/locked/c.txt');

    await fs.rm(path.join(root, 'sub', 'locked', 'c.txt'));
    unreadableDir = null;
    await eventually(() => !receiver.pathsOf('p').includes('sub/locked/c.txt'));
    expect(receiver.pathsOf('p')).to.include('sub/locked');
  });
});
