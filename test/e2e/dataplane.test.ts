import { expect } from 'chai';
import { rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { writeTree } from '../agent/runtime-fixtures.js';
import { eventually } from '../harness/eventually.js';
import { DataPlaneWorld, KEYS } from './dataplane-world.js';

/**
 * The data plane end to end: a real Fusion, real agents configured through
 * the admin API, real directory trees, and what an operator sees in the views
 * and the management API.
 */
describe('data plane end to end: agents, Fusion and views', () => {
  let world: DataPlaneWorld;

  beforeEach(async () => {
    world = await DataPlaneWorld.start();
  });
  afterEach(() => world.close());

  /** Waits until the view lists exactly `expected` (see DataPlaneWorld.listing). */
  function viewHolds(viewId: string, key: string, expected: string[], message = `view ${viewId}`): Promise<true> {
    return eventually(
      async () => {
        expect(await world.listing(viewId, key)).to.deep.equal(expected);
        return true as const;
      },
      { message },
    );
  }

  /** Id of the last complete audit (snapshot) the view's only session delivered. */
  async function lastAudit(viewId: string, key: string): Promise<string | undefined> {
    const { sessions } = await world.view<{ sessions: Array<{ last_scan: { id: string; done: boolean } | null }> }>(viewId, 'sessions', key);
    expect(sessions).to.have.length(1);
    const scan = sessions[0]!.last_scan;
    return scan?.done ? scan.id : undefined;
  }

  it('fills the view with the tree, follows added and deleted files through audits, and reports pipe status to Fusion', async () => {
    const root = await world.mkdir('tree');
    await writeTree(root, { 'a.txt': 'aaaa', 'd/b.txt': 'bb', 'd/e/c.txt': 'c', empty: null });
    await world.pushConfig('node-a', { main: { root, key: KEYS.a } });
    const agent = world.agent('node-a');
    await agent.start();
    expect(agent.snapshot().config.source).to.equal('remote');

    await viewHolds('va', KEYS.a, ['a.txt:4', 'd/', 'd/b.txt:2', 'd/e/', 'd/e/c.txt:1', 'empty/']);
    expect(await world.sessions('va', KEYS.a)).to.deep.equal([['node-a', 'main', 'leader']]);

    await writeFile(path.join(root, 'd', 'new.txt'), '123456');
    await rm(path.join(root, 'a.txt'));
    await rm(path.join(root, 'd', 'e'), { recursive: true });
    await viewHolds('va', KEYS.a, ['d/', 'd/b.txt:2', 'd/new.txt:6', 'empty/'], 'the audit after the change');
    expect(await world.view('va', 'stats', KEYS.a)).to.include({ files: 2, dirs: 2, total_bytes: 8 });

    // The agent's status frames reach Fusion: the pipe, its state and its counter of records sent.
    const shown = await eventually(
      async () => {
        const view = await world.agentView('node-a');
        expect(view.pipes).to.have.length(1);
        expect(view.pipes[0]).to.include({ id: 'main', state: 'running', last_error: null });
        // The first snapshot alone was 6 records; later audits add to it.
        expect(view.pipes[0].records_sent).to.be.a('number').and.at.least(6);
        return view;
      },
      { message: 'pipe status in GET /management/agents/node-a' },
    );
    expect(shown).to.include({ online: true });
    expect(shown.config.status).to.equal('applied');
  });

  it('scans a subtree on command and refuses a path outside the source root', async () => {
    const root = await world.mkdir('scan');
    const outside = await world.mkdir('outside');
    await writeTree(root, { 'top.txt': 't', 'sub/old.txt': 'old' });
    await writeTree(outside, { 'secret.txt': 's' });
    await symlink(outside, path.join(root, 'escape'));
    // Hourly audits and no realtime: whatever reaches the view later comes from the scans.
    await world.pushConfig('node-a', { main: { root, key: KEYS.a, audit_interval_sec: 3600, realtime: false } });
    await world.agent('node-a').start();
    const first = ['escape:' + outside.length, 'sub/', 'sub/old.txt:3', 'top.txt:1'];
    await viewHolds('va', KEYS.a, first, 'the first snapshot');

    await writeTree(root, { 'sub/new.txt': '12345', 'sub/deeper/x.txt': 'x', 'top-new.txt': 'zz' });
    const scan = await world.command('node-a', 'scan', { path: 'sub' });
    expect(scan.status, scan.error ?? '').to.equal('succeeded');
    expect(scan.output).to.include({ pipe: 'main', files: 3, dirs: 2, bytes: 9, unreadable: 0 });
    // The scan succeeds once Fusion has applied its records: no waiting needed, and nothing outside `sub` was read.
    expect(await world.listing('va', KEYS.a)).to.deep.equal([
      'escape:' + outside.length,
      'sub/',
      'sub/deeper/',
      'sub/deeper/x.txt:1',
      'sub/new.txt:5',
      'sub/old.txt:3',
      'top.txt:1',
    ]);

    // An absolute path inside the root is the same subtree.
    const absolute = await world.command('node-a', 'scan', { path: path.join(root, 'sub', 'deeper'), recursive: false });
    expect(absolute.status, absolute.error ?? '').to.equal('succeeded');
    expect(absolute.output).to.include({ files: 1, dirs: 1 });

    for (const outsidePath of ['../outside', outside, 'escape', 'escape/secret.txt']) {
      const refused = await world.command('node-a', 'scan', { path: outsidePath });
      expect(refused.status, outsidePath).to.equal('failed');
      expect(refused.error, outsidePath).to.match(/outside the source root/);
    }
    expect((await world.listing('va', KEYS.a)).filter((p) => p.includes('secret'))).to.deep.equal([]);
  });

  it('starts pushing for a pipe added by a config push; a removed pipe stops, closes its session and leaves no entries', async () => {
    const rootA = await world.mkdir('first');
    const rootB = await world.mkdir('second');
    await writeTree(rootA, { 'a1.txt': '1' });
    await writeTree(rootB, { 'b1.txt': '22', 'b/c.txt': '333' });
    const first = { root: rootA, key: KEYS.a };
    const second = { root: rootB, key: KEYS.b };
    await world.pushConfig('node-a', { first });
    await world.agent('node-a').start();
    await viewHolds('va', KEYS.a, ['a1.txt:1']);
    const [sessionA] = (await world.view<{ sessions: Array<{ session_id: string }> }>('va', 'sessions', KEYS.a)).sessions;

    await world.pushConfig('node-a', { first, second });
    await viewHolds('vb', KEYS.b, ['b/', 'b/c.txt:3', 'b1.txt:2'], 'the added pipe pushing');
    expect(await world.sessions('vb', KEYS.b)).to.deep.equal([['node-a', 'second', 'leader']]);
    // The pipe that did not change ran on: same session.
    const stillA = (await world.view<{ sessions: Array<{ session_id: string }> }>('va', 'sessions', KEYS.a)).sessions;
    expect(stillA.map((s) => s.session_id)).to.deep.equal([sessionA!.session_id]);

    await world.pushConfig('node-a', { second });
    // The steady receiver keeps a silent session for 30 s: gone this soon means the agent closed it.
    await eventually(async () => (await world.sessions('va', KEYS.a)).length === 0, { message: 'session of the removed pipe closed' });
    await eventually(
      async () => {
        const view = await world.agentView('node-a');
        expect(view.pipes.map((p: { id: string }) => p.id)).to.deep.equal(['second']);
        expect(view.config.status).to.equal('applied');
        return true;
      },
      { message: 'status after the removal' },
    );

    // The removed pipe took its entries with it, and nothing pushes into `va` any more: a file added
    // under its root never shows, while one added under the running pipe's root does.
    expect(await world.listing('va', KEYS.a)).to.deep.equal([]);
    await writeFile(path.join(rootA, 'late.txt'), 'late');
    await writeFile(path.join(rootB, 'late.txt'), 'late');
    await viewHolds('vb', KEYS.b, ['b/', 'b/c.txt:3', 'b1.txt:2', 'late.txt:4'], 'the running pipe auditing');
    const seenAudit = await eventually(() => lastAudit('vb', KEYS.b));
    await eventually(
      async () => {
        const audit = await lastAudit('vb', KEYS.b);
        return audit !== undefined && audit !== seenAudit;
      },
      { message: 'one more audit of the running pipe' },
    );
    expect(await world.listing('va', KEYS.a)).to.deep.equal([]);
  });

  it('shows a refused pipe as error with its reason in Fusion, and running again once its config is fixed', async () => {
    const root = await world.mkdir('refused');
    await writeTree(root, { 'f.txt': 'f' });
    await world.pushConfig('node-a', { main: { root, key: 'not-a-receiver-key' } });
    await world.agent('node-a').start();
    await eventually(
      async () => {
        const [pipe] = (await world.agentView('node-a')).pipes;
        expect(pipe).to.include({ id: 'main', state: 'error' });
        expect(pipe.last_error).to.match(/401 unauthorized/);
        return true;
      },
      { message: 'error state in Fusion' },
    );

    await world.pushConfig('node-a', { main: { root, key: KEYS.a } });
    await viewHolds('va', KEYS.a, ['f.txt:1']);
    await eventually(
      async () => {
        const [pipe] = (await world.agentView('node-a')).pipes;
        expect(pipe).to.include({ id: 'main', state: 'running', last_error: null });
        return true;
      },
      { message: 'running state in Fusion' },
    );
  });

  it('makes the first of two agents on one view its leader, and fails over to the other when the leader dies', async () => {
    const root1 = await world.mkdir('node-1');
    const root2 = await world.mkdir('node-2');
    await writeTree(root1, { 'one.txt': '1' });
    await writeTree(root2, { 'two.txt': '22' });
    await world.pushConfig('node-1', { scan: { root: root1, key: KEYS.shared } });
    await world.pushConfig('node-2', { scan: { root: root2, key: KEYS.shared } });

    // The leader-to-be runs as its own process, so it can die without closing anything.
    const leader = await world.agentProcess('node-1');
    await eventually(
      async () => {
        expect(leader.exited, leader.log).to.equal(false);
        expect(await world.sessions('shared', KEYS.shared)).to.deep.equal([['node-1', 'scan', 'leader']]);
        return true;
      },
      { timeoutMs: 15_000, message: 'node-1 session' },
    );
    await world.agent('node-2').start();
    await eventually(
      async () => {
        expect(await world.sessions('shared', KEYS.shared)).to.deep.equal([
          ['node-1', 'scan', 'leader'],
          ['node-2', 'scan', 'follower'],
        ]);
        return true;
      },
      { message: 'node-2 follows' },
    );
    await viewHolds('shared', KEYS.shared, ['one.txt:1', 'two.txt:2'], 'both agents feeding the view');

    await leader.kill();
    // A dead agent closes nothing: its session lingers until the receiver's timeout ends it.
    expect((await world.sessions('shared', KEYS.shared)).map(([agent]) => agent)).to.include('node-1');
    await eventually(
      async () => {
        expect(await world.sessions('shared', KEYS.shared)).to.deep.equal([['node-2', 'scan', 'leader']]);
        return true;
      },
      { message: 'failover to node-2' },
    );
    await eventually(async () => (await world.agentView('node-1')).online === false, { message: 'node-1 offline' });
  });
});
