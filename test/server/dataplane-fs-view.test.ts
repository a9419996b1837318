import { expect } from 'chai';
import { FsView, TreeTooLargeError, type FileRecord } from '../../server/dataplane/index.js';

function upsert(path: string, type: FileRecord['type'] = 'file', size = 0): FileRecord {
  return { op: 'upsert', path, type, size, mtime_ms: 1000, mode: type === 'dir' ? 0o40755 : 0o100644 };
}
function remove(path: string): FileRecord {
  return { op: 'delete', path, type: 'file', size: 0, mtime_ms: 0, mode: 0 };
}

describe('dataplane fs view', () => {
  it('creates missing parent directories and keeps totals', () => {
    const view = new FsView('v');
    view.apply([upsert('a/b/c.txt', 'file', 10), upsert('a/d.bin', 'file', 5), upsert('link', 'symlink', 3)], 42);
    expect(view.stats()).to.deep.equal({ files: 3, dirs: 2, total_bytes: 18, last_event_at: 42 });
    const tree = view.tree('', { recursive: true })!;
    expect(tree.children!.map((c) => c.name)).to.deep.equal(['a', 'link']);
    const a = tree.children![0]!;
    expect(a).to.include({ name: 'a', path: 'a', type: 'dir' });
    expect(a.children!.map((c) => c.path)).to.deep.equal(['a/b', 'a/d.bin']);
    expect(a.children![0]!.children![0]).to.deep.equal({ name: 'c.txt', path: 'a/b/c.txt', type: 'file', size: 10, mtime_ms: 1000, mode: 0o100644 });
  });

  it('updates an entry in place and adjusts the byte total', () => {
    const view = new FsView('v');
    view.apply([upsert('f', 'file', 10)]);
    view.apply([{ ...upsert('f', 'file', 25), mtime_ms: 2000 }]);
    expect(view.stats()).to.include({ files: 1, dirs: 0, total_bytes: 25 });
    expect(view.tree('f')).to.include({ size: 25, mtime_ms: 2000 });
  });

  it('deletes an entry with its whole subtree', () => {
    const view = new FsView('v');
    view.apply([upsert('a/b/c', 'file', 1), upsert('a/b/d/e', 'file', 2), upsert('a/x', 'file', 4), upsert('z', 'file', 8)]);
    expect(view.stats()).to.include({ files: 4, dirs: 3, total_bytes: 15 });
    view.apply([remove('a/b')]);
    expect(view.stats()).to.include({ files: 2, dirs: 1, total_bytes: 12 });
    expect(view.tree('a/b')).to.equal(undefined);
    expect(view.tree('a')!.children!.map((c) => c.name)).to.deep.equal(['x']);
    view.apply([remove('does/not/exist'), remove('a/x'), remove('a')]);
    expect(view.stats()).to.include({ files: 1, dirs: 0, total_bytes: 8 });
    view.apply([remove('')]);
    expect(view.stats()).to.include({ files: 0, dirs: 0, total_bytes: 0 });
    expect(view.tree('')!.children).to.deep.equal([]);
  });

  it('replaces a directory by a file (dropping its subtree) and a file in the way by a directory', () => {
    const view = new FsView('v');
    view.apply([upsert('d/one', 'file', 1), upsert('d/two', 'file', 2)]);
    view.apply([upsert('d', 'file', 7)]);
    expect(view.stats()).to.include({ files: 1, dirs: 0, total_bytes: 7 });
    view.apply([upsert('d/new', 'file', 3)]);
    expect(view.stats()).to.include({ files: 1, dirs: 1, total_bytes: 3 });
    expect(view.tree('d')!.type).to.equal('dir');
  });

  it('lists one level unless recursive, and stops at max_depth', () => {
    const view = new FsView('v');
    view.apply([upsert('a/b/c/d', 'file', 1)]);
    const shallow = view.tree('')!;
    expect(shallow.children!.map((c) => c.name)).to.deep.equal(['a']);
    expect(shallow.children![0]).to.not.have.property('children');
    const two = view.tree('', { recursive: true, maxDepth: 2 })!;
    expect(two.children![0]!.children![0]!.name).to.equal('b');
    expect(two.children![0]!.children![0]).to.not.have.property('children');
    expect(view.tree('a/b', { recursive: true, maxDepth: 0 })).to.not.have.property('children');
    expect(view.tree('a/b/c/d')).to.not.have.property('children');
  });

  it('refuses a tree answer larger than the node limit', () => {
    const view = new FsView('v');
    view.apply(Array.from({ length: 20 }, (_, i) => upsert(`f${i}`)));
    expect(() => view.tree('', { maxNodes: 10 })).to.throw(TreeTooLargeError);
    expect(view.tree('', { maxNodes: 21 })!.children).to.have.lengthOf(20);
  });

  it('keeps long and unusual names exactly, lone surrogates included', () => {
    const view = new FsView('v');
    const dir = 'a-directory-with-a-long-name-é€';
    const file = '\ud800-lonely-surrogate-and-more-than-13-chars';
    view.apply([upsert(`${dir}/${file}`, 'file', 1)]);
    const tree = view.tree(dir)!;
    expect(tree.name).to.equal(dir);
    expect(tree.children!.map((c) => [c.name, c.path])).to.deep.equal([[file, `${dir}/${file}`]]);
    expect(view.tree(`${dir}/${file}`)).to.include({ type: 'file', size: 1 });
  });

  it('updates the root metadata without counting it', () => {
    const view = new FsView('v');
    view.apply([upsert('', 'dir', 4096)]);
    expect(view.stats()).to.include({ files: 0, dirs: 0 });
    expect(view.tree('')).to.include({ name: '', path: '', type: 'dir', size: 4096 });
  });
});
