import { expect } from 'chai';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { AgentPipeRuntime } from '../../agent/runtime/pipe-runtime.js';
import { eventually } from '../harness/eventually.js';
import { startDataPlane, type DataPlaneHarness } from '../server/dataplane-harness.js';
import { configFor, fastRuntime, tempDir, writeTree } from './runtime-fixtures.js';

interface TreeNode {
  name: string;
  path: string;
  type: string;
  size: number;
  children?: TreeNode[];
}

function flatten(node: TreeNode): string[] {
  return [node.path, ...(node.children ?? []).flatMap(flatten)];
}

describe('pipe runtime against Fusion\'s real data plane', () => {
  let fusion: DataPlaneHarness;
  let runtime: AgentPipeRuntime;
  let dir: { path: string; remove(): Promise<void> };
  let root: string;
  let key: string;

  beforeEach(async () => {
    fusion = await startDataPlane();
    key = fusion.plane.generatedApiKey!;
    dir = await tempDir('fustor-e2e-');
    root = path.join(dir.path, 'root');
    await writeTree(root, { 'a.txt': 'aaaa', 'd/b.txt': 'bb', 'd/e/c.txt': 'c' });
    await fs.symlink('d/e', path.join(root, 'link'));
    runtime = fastRuntime();
  });

  afterEach(async () => {
    await runtime.stop();
    await fusion.close();
    await dir.remove();
  });

  async function view<T>(what: string): Promise<T> {
    const res = await fetch(`${fusion.baseUrl}/api/v1/views/default/${what}`, { headers: { 'x-api-key': key } });
    expect(res.status, what).to.equal(200);
    return (await res.json()) as T;
  }

  it('fills the view, keeps it in step through audits and on-demand scans, and ends its session on stop', async () => {
    expect(key, 'Fusion generated a receiver key').to.be.a('string');
    await runtime.apply(configFor({ p: { root, url: fusion.baseUrl, key, batch_size: 2, audit_interval_sec: 0.1 } }));

    await eventually(async () => {
      const stats = await view<{ files: number; dirs: number; total_bytes: number }>('stats');
      // The view counts every non-directory as a file: three files and the symlink (3 bytes: "d/e").
      expect(stats).to.include({ files: 4, dirs: 2, total_bytes: 10 });
      return true;
    });
    const tree = await view<TreeNode>('tree?path=&recursive=true');
    expect(flatten(tree).sort()).to.deep.equal(['', 'a.txt', 'd', 'd/b.txt', 'd/e', 'd/e/c.txt', 'link']);
    const sessions = fusion.plane.sessions.list();
    expect(sessions.map((s) => [s.agent_id, s.agent_pipe_id])).to.deep.equal([['agent-1', 'p']]);
    await eventually(() => runtime.status()[0]?.state === 'running');

    // An audit removes what vanished from disk.
    await fs.rm(path.join(root, 'd', 'e'), { recursive: true });
    await eventually(async () => (await view<{ files: number; dirs: number }>('stats')).files === 3);
    expect(flatten(await view<TreeNode>('tree?path=&recursive=true')).sort()).to.deep.equal(['', 'a.txt', 'd', 'd/b.txt', 'link']);

    // An on-demand scan resolves once Fusion has applied the records.
    await writeTree(root, { 'd/new.txt': '123456' });
    const result = await runtime.scan({ path: 'd' });
    expect(result).to.include({ files: 2, dirs: 1, bytes: 8 });
    const d = await view<TreeNode>('tree?path=d&recursive=true');
    expect(d.children!.map((c) => c.name).sort()).to.deep.equal(['b.txt', 'new.txt']);

    await runtime.stop();
    expect(fusion.plane.sessions.list()).to.deep.equal([]);
  });
});
