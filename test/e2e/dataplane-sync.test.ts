import { expect } from 'chai';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { writeTree } from '../agent/runtime-fixtures.js';
import { eventually } from '../harness/eventually.js';
import { DataPlaneWorld, KEYS } from './dataplane-world.js';

/**
 * Views that match the disk: snapshots remove what they no longer see,
 * whatever happened while an agent or Fusion was down, and changes reach the
 * view as they happen. Real Fusion, real agents (in process and as child
 * processes), real trees.
 */
describe('data plane: views that match the disk', () => {
  let world: DataPlaneWorld;

  beforeEach(async () => {
    world = await DataPlaneWorld.start();
  });
  afterEach(() => world.close());

  /** `count` files of `size` bytes under `dir`, in `dirs` sub-directories. */
  async function files(dir: string, count: number, dirs = 1): Promise<void> {
    for (let d = 0; d < dirs; d++) await mkdir(path.join(dir, `s${d}`), { recursive: true });
    const writes: Promise<void>[] = [];
    for (let i = 0; i < count; i++) writes.push(writeFile(path.join(dir, `s${i % dirs}`, `f${i}.txt`), 'x'));
    await Promise.all(writes);
  }

  async function stats(viewId: string, key: string): Promise<{ files: number; dirs: number }> {
    return world.view(viewId, 'stats', key);
  }

  it('removes what was deleted while the agent was down, with its first snapshot', async function () {
    // A few seconds on a quiet machine; starting the agent process is what a loaded one makes slow.
    this.timeout(60_000);
    const root = await world.mkdir('down');
    await writeTree(root, { 'stay.txt': 's', 'gone/a.txt': 'a', 'gone/deep/b.txt': 'b' });
    await world.pushConfig('node-p', { main: { root, key: KEYS.a, audit_interval_sec: 3600 } });
    const first = world.agent('node-p');
    await first.start();
    await eventually(async () => (await world.listing('va', KEYS.a)).length === 5, { message: 'first snapshot' });

    await first.stop();
    await rm(path.join(root, 'gone'), { recursive: true });
    await writeFile(path.join(root, 'new.txt'), 'nn');
    // The same agent (same home, same credential) comes back as the `fustor-agent` process.
    await world.agentProcess('node-p');
    await eventually(
      async () => {
        expect(await world.listing('va', KEYS.a)).to.deep.equal(['new.txt:2', 'stay.txt:1']);
        return true;
      },
      { timeoutMs: 45_000, message: "the restarted agent's snapshot" },
    );
  });

  it('scans a sub-path: removes what was deleted there, and nothing elsewhere', async () => {
    const root = await world.mkdir('scan');
    await writeTree(root, { 'keep/a.txt': 'a', 'work/b.txt': 'bb' });
    await files(path.join(root, 'work', 'dir 3'), 40, 2);
    await world.pushConfig('node-a', { main: { root, key: KEYS.a, audit_interval_sec: 3600, realtime: false } });
    await world.agent('node-a').start();
    await eventually(async () => (await stats('va', KEYS.a)).files === 42);

    await rm(path.join(root, 'work', 'dir 3'), { recursive: true });
    await rm(path.join(root, 'keep', 'a.txt'));
    const scan = await world.command('node-a', 'scan', { path: 'work' });
    expect(scan.status, scan.error ?? '').to.equal('succeeded');
    // 40 files and 3 directories ('dir 3' and its two sub-directories).
    expect(scan.output).to.include({ files: 1, dirs: 1, removed: 43 });
    // Outside the scanned path the deleted file stays until an audit: the scan covered `work` only.
    expect(await world.listing('va', KEYS.a)).to.deep.equal(['keep/', 'keep/a.txt:1', 'work/', 'work/b.txt:2']);
  });

  it('follows a renamed directory of 1,000 files and a burst of 10,000 creates without waiting for an audit', async function () {
    // Its waits add up to 50 s (each names what it waited for); on a loaded machine the whole takes longer than 40 s.
    this.timeout(90_000);
    const root = await world.mkdir('live');
    await files(path.join(root, 'big'), 1000);
    await mkdir(path.join(root, 'burst'));
    await world.pushConfig('node-a', { main: { root, key: KEYS.a, audit_interval_sec: 3600 } });
    await world.agent('node-a').start();
    await eventually(async () => (await stats('va', KEYS.a)).files === 1000);
    await eventually(async () => (await world.agentView('node-a')).pipes[0]?.realtime?.state === 'on', { message: 'realtime on' });

    await rename(path.join(root, 'big'), path.join(root, 'moved'));
    await eventually(
      async () => {
        const top = await world.view<{ children: Array<{ name: string }> }>('va', 'tree?path=', KEYS.a);
        expect(top.children.map((c) => c.name)).to.deep.equal(['burst', 'moved']);
        const moved = await world.view<{ children: Array<{ children: unknown[] }> }>('va', 'tree?path=moved/s0', KEYS.a);
        expect(moved.children).to.have.length(1000);
        return true;
      },
      { message: 'the renamed directory' },
    );

    const burst = path.join(root, 'burst');
    for (let start = 0; start < 10_000; start += 500) {
      await Promise.all(Array.from({ length: 500 }, (_, i) => writeFile(path.join(burst, `b${start + i}.txt`), 'y')));
    }
    await eventually(async () => (await stats('va', KEYS.a)).files === 11_000, { timeoutMs: 20_000, message: 'the burst' });
    const listing = await world.view<{ children: unknown[] }>('va', 'tree?path=burst', KEYS.a);
    expect(listing.children).to.have.length(10_000);
  });

  it('refills the views by itself after a Fusion restart', async () => {
    const root = await world.mkdir('restart');
    await writeTree(root, { 'one.txt': '1', 'd/two.txt': '22' });
    // The quick receiver's heartbeats (0.2 s) find the lost session soon after the restart.
    await world.pushConfig('node-a', { main: { root, key: KEYS.shared, audit_interval_sec: 3600 } });
    await world.agent('node-a').start();
    const full = ['d/', 'd/two.txt:2', 'one.txt:1'];
    await eventually(async () => {
      expect(await world.listing('shared', KEYS.shared)).to.deep.equal(full);
      return true;
    });
    await world.fusion.restart();
    await eventually(
      async () => {
        expect(await world.listing('shared', KEYS.shared)).to.deep.equal(full);
        return true;
      },
      { message: 'the view after the restart' },
    );
  });

  it("moves a re-pointed pipe's entries to its new view, leaving none behind", async () => {
    const root = await world.mkdir('moving');
    await writeTree(root, { 'm.txt': 'mmm' });
    await world.pushConfig('node-a', { main: { root, key: KEYS.a } });
    await world.agent('node-a').start();
    await eventually(async () => (await world.listing('va', KEYS.a)).length === 1);
    await world.pushConfig('node-a', { main: { root, key: KEYS.b } });
    await eventually(async () => (await world.listing('vb', KEYS.b)).length === 1, { message: 'the new view' });
    await eventually(async () => (await world.listing('va', KEYS.a)).length === 0, { message: 'the old view emptied' });
  });
});
