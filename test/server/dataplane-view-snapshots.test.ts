import { expect } from 'chai';
import { FsView, type FileRecord } from '../../server/dataplane/index.js';

function upsert(path: string, type: FileRecord['type'] = 'file'): FileRecord {
  return { op: 'upsert', path, type, size: type === 'dir' ? 0 : 1, mtime_ms: 1000, mode: 0o644 };
}

/** Every path the view holds, sorted (directories end with "/"). */
function paths(view: FsView): string[] {
  const out: string[] = [];
  const walk = (node: { path: string; type: string; children?: Array<{ path: string; type: string; children?: unknown[] }> }): void => {
    if (node.path !== '') out.push(node.type === 'dir' ? `${node.path}/` : node.path);
    for (const child of node.children ?? []) walk(child as typeof node);
  };
  walk(view.tree('', { recursive: true })!);
  return out.sort();
}

describe('dataplane fs view: snapshots', () => {
  const A = { pipeId: 'p', agentId: 'node-1', agentPipeId: 'main' };
  const B = { pipeId: 'p', agentId: 'node-2', agentPipeId: 'main' };

  it('removes, when a snapshot is done, what its origin held under its path and it did not see', () => {
    const view = new FsView('v');
    const a = view.originOf(A);
    view.apply([upsert('', 'dir'), upsert('d', 'dir'), upsert('d/x'), upsert('d/e', 'dir'), upsert('d/e/y'), upsert('top')], 1, a, { id: 's1' });
    expect(view.apply([], 2, a, { id: 's1', done: true })).to.equal(0);

    // The next snapshot no longer sees d/e (and what was in it) nor top.
    view.apply([upsert('', 'dir'), upsert('d', 'dir')], 3, a, { id: 's2' });
    expect(view.apply([upsert('d/x')], 4, a, { id: 's2', done: true })).to.equal(3);
    expect(paths(view)).to.deep.equal(['d/', 'd/x']);
    expect(view.stats()).to.include({ files: 1, dirs: 1 });
  });

  it('sweeps only the subtree of a scan, one level deep when it is not recursive', () => {
    const view = new FsView('v');
    const a = view.originOf(A);
    view.apply(['a', 'a/1', 'a/sub', 'a/sub/2', 'b', 'b/3'].map((p) => upsert(p, p.includes('.') || /\/\d$/.test(p) ? 'file' : 'dir')), 1, a);
    expect(view.apply([upsert('a', 'dir'), upsert('a/sub', 'dir')], 2, a, { id: 's', path: 'a', recursive: false, done: true })).to.equal(1);
    expect(paths(view)).to.deep.equal(['a/', 'a/sub/', 'a/sub/2', 'b/', 'b/3']);
    expect(view.apply([upsert('a', 'dir')], 3, a, { id: 't', path: 'a', done: true })).to.equal(2);
    expect(paths(view)).to.deep.equal(['a/', 'b/', 'b/3']);
  });

  it('leaves alone what another origin reported, what the walk could not read, and what changed during the snapshot', () => {
    const view = new FsView('v');
    const a = view.originOf(A);
    const b = view.originOf(B);
    view.apply([upsert('shared', 'dir'), upsert('shared/from-a'), upsert('locked', 'dir'), upsert('locked/secret')], 1, a);
    view.apply([upsert('shared', 'dir'), upsert('shared/from-b'), upsert('b-only')], 1, b);
    view.apply([upsert('')], 2, a, { id: 's' });
    // A change pushed while the snapshot runs is newer than it, whatever the walk read.
    view.apply([upsert('late')], 3, a);
    expect(view.apply([], 4, a, { id: 's', done: true, keep: ['locked'] })).to.equal(1);
    // `shared` was B's last: it stays, with B's entry; A's entry in it went.
    expect(paths(view)).to.deep.equal(['b-only', 'late', 'locked/', 'locked/secret', 'shared/', 'shared/from-b']);
  });

  it('purges the entries of origins that no longer feed it', () => {
    const view = new FsView('v');
    view.apply([upsert('d', 'dir'), upsert('d/a')], 1, view.originOf(A));
    view.apply([upsert('d/b')], 1, view.originOf(B));
    expect(view.purge((o) => o.agentId === 'node-1')).to.equal(1);
    expect(paths(view)).to.deep.equal(['d/', 'd/b']);
    expect(view.purge((o) => o.pipeId === 'p')).to.equal(2);
    expect(view.stats()).to.include({ files: 0, dirs: 0 });
  });
});
