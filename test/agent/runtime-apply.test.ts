import { expect } from 'chai';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { AgentPipeRuntime } from '../../agent/runtime/pipe-runtime.js';
import type { PipeStatus } from '../../shared/protocol/index.js';
import { eventually } from '../harness/eventually.js';
import { configFor, fastRuntime, tempDir, writeTree } from './runtime-fixtures.js';
import { TestReceiver } from './runtime-receiver.js';

describe('pipe runtime: apply', () => {
  let receiver: TestReceiver;
  let runtime: AgentPipeRuntime;
  let dir: { path: string; remove(): Promise<void> };
  let rootA: string;
  let rootB: string;

  beforeEach(async () => {
    receiver = new TestReceiver();
    await receiver.listen();
    dir = await tempDir();
    rootA = path.join(dir.path, 'a');
    rootB = path.join(dir.path, 'b');
    await writeTree(rootA, { 'one.txt': 'hello', 'sub/two.txt': 'world!', 'sub/deeper/three.bin': 'xyz', empty: null });
    await writeTree(rootB, { 'b.txt': 'bbb' });
    runtime = fastRuntime();
  });

  afterEach(async () => {
    await runtime.stop();
    await receiver.close();
    await dir.remove();
  });

  const statusOf = (id: string): PipeStatus | undefined => runtime.status().find((s) => s.id === id);

  it('starts a pipe that delivers a full snapshot, marked done, and reports running', async () => {
    const change = await runtime.apply(configFor({ a: { root: rootA, url: receiver.url, batch_size: 2 } }));
    expect(change).to.deep.equal({ added: ['a'], removed: [], restarted: [] });
    await eventually(() => receiver.batches.some((b) => b.scan?.done));
    expect(receiver.pathsOf('a')).to.deep.equal(['', 'empty', 'one.txt', 'sub', 'sub/deeper', 'sub/deeper/three.bin', 'sub/two.txt']);
    const tree = receiver.treeOf('a');
    expect(tree.get('one.txt')).to.include({ op: 'upsert', type: 'file', size: 5 });
    expect(tree.get('sub')).to.include({ type: 'dir', size: 0 });
    expect(tree.get('')!.type).to.equal('dir');
    expect(receiver.batches.every((b) => b.events.length <= 2)).to.equal(true);
    const scanIds = new Set(receiver.batches.map((b) => b.scan?.id));
    expect(scanIds.size).to.equal(1);
    expect(receiver.batches.filter((b) => b.scan?.done)).to.have.length(1);
    expect(receiver.batches.at(-1)!.scan!.done).to.equal(true);
    expect(receiver.sessions[0]).to.include({ agent_id: 'agent-1', pipe_id: 'a', source_uri: rootA });
    await eventually(() => statusOf('a')?.state === 'running' && statusOf('a')!.records_sent === 7);
  });

  it('re-audits on its interval (realtime off): new entries are upserted, vanished ones removed by the snapshot', async () => {
    await runtime.apply(configFor({ a: { root: rootA, url: receiver.url, audit_interval_sec: 0.05, realtime: false } }));
    await eventually(() => receiver.pathsOf('a').includes('sub/two.txt'));
    expect(statusOf('a')!.realtime).to.include({ state: 'off' });
    await fs.rm(path.join(rootA, 'sub'), { recursive: true });
    await writeTree(rootA, { 'new.txt': 'new' });
    await eventually(() => {
      const paths = receiver.pathsOf('a');
      return !paths.includes('sub') && !paths.includes('sub/deeper/three.bin') && paths.includes('new.txt');
    });
    // The agent sends no deletes of its own: each snapshot says what it covers and the receiver drops the rest.
    expect(receiver.batches.flatMap((b) => b.events).filter((e) => e.op === 'delete')).to.deep.equal([]);
    expect(receiver.batches.filter((b) => b.scan?.done).every((b) => b.scan!.path === '' && b.scan!.recursive === true)).to.equal(true);
  });

  it('fails an audit whose root went away instead of emptying the view, and recovers when it is back', async () => {
    await runtime.apply(configFor({ a: { root: rootA, url: receiver.url, audit_interval_sec: 0.05, realtime: false } }));
    await eventually(() => receiver.pathsOf('a').length === 7);
    const parked = path.join(dir.path, 'parked');
    await fs.rename(rootA, parked);
    await eventually(() => statusOf('a')?.state === 'error' && /cannot read the source root \(ENOENT\)/.test(statusOf('a')!.last_error ?? ''));
    expect(receiver.pathsOf('a')).to.have.length(7);
    await fs.rename(parked, rootA);
    await eventually(() => statusOf('a')?.state === 'running');
    expect(receiver.pathsOf('a')).to.have.length(7);
  });

  it('keeps an untouched pipe running on the same session while a changed one restarts', async () => {
    await runtime.apply(
      configFor({ a: { root: rootA, url: receiver.url }, b: { root: rootB, url: receiver.url } }),
    );
    await eventually(() => receiver.pathsOf('a').length === 7 && receiver.pathsOf('b').length === 2);

    const change = await runtime.apply(
      configFor({ a: { root: rootA, url: receiver.url }, b: { root: rootB, url: receiver.url, batch_size: 1 } }),
    );
    expect(change).to.deep.equal({ added: [], removed: [], restarted: ['b'] });
    await eventually(() => receiver.sessionsOf('b').length === 2);
    expect(receiver.sessionsOf('b')[0]!.closed, 'the old session of b was closed').to.equal(true);
    expect(receiver.sessionsOf('a')).to.have.length(1);
    expect(receiver.sessionsOf('a')[0]!.closed).to.equal(false);

    const removal = await runtime.apply(configFor({ b: { root: rootB, url: receiver.url, batch_size: 1 } }));
    expect(removal).to.deep.equal({ added: [], removed: ['a'], restarted: [] });
    expect(receiver.sessionsOf('a')[0]!.closed).to.equal(true);
    expect(runtime.status().map((s) => s.id)).to.deep.equal(['b']);
  });

  it('rolls back when a pipe cannot start: what it stopped runs again, nothing new stays', async () => {
    await runtime.apply(configFor({ a: { root: rootA, url: receiver.url } }));
    await eventually(() => receiver.sessionsOf('a').length === 1);

    const missing = path.join(dir.path, 'does-not-exist');
    const failing = configFor({
      a: { root: rootA, url: receiver.url, batch_size: 3 },
      b: { root: rootB, url: receiver.url },
      c: { root: missing, url: receiver.url },
    });
    let error: Error | undefined;
    await runtime.apply(failing).catch((err: Error) => (error = err));
    expect(error?.message).to.match(/pipe "c" failed to start: source root .*does-not-exist does not exist/);

    expect(runtime.status().map((s) => s.id)).to.deep.equal(['a']);
    await eventually(() => statusOf('a')?.state === 'running');
    // a was restarted by the apply, then restored; b was started, then stopped again.
    await eventually(() => receiver.sessionsOf('a').filter((s) => !s.closed).length === 1);
    expect(receiver.sessionsOf('b').every((s) => s.closed)).to.equal(true);

    // The runtime still diffs against what runs: applying the original again changes nothing.
    expect(await runtime.apply(configFor({ a: { root: rootA, url: receiver.url } }))).to.deep.equal({ added: [], removed: [], restarted: [] });
  });

  it('refuses a file as root and an unknown driver without touching the running pipes', async () => {
    await runtime.apply(configFor({ a: { root: rootA, url: receiver.url } }));
    await eventually(() => receiver.sessionsOf('a').length === 1);

    const fileRoot = configFor({ a: { root: rootA, url: receiver.url }, f: { root: path.join(rootA, 'one.txt'), url: receiver.url } });
    await expectRejection(runtime.apply(fileRoot), /pipe "f" failed to start: source root .*one\.txt is not a directory/);

    const unknown = configFor({ a: { root: rootA, url: receiver.url } });
    unknown.sources['x-src'] = { driver: 'nfs-magic', uri: rootB, disabled: false, driver_params: {} };
    unknown.pipes.x = { source: 'x-src', sender: 'a-out', disabled: false };
    await expectRejection(runtime.apply(unknown), /pipe "x" cannot start: unknown source driver "nfs-magic"/);

    expect(receiver.sessionsOf('a')).to.have.length(1);
    expect(receiver.sessionsOf('a')[0]!.closed).to.equal(false);
  });

  it('serialises concurrent applies and reports status changes to listeners', async () => {
    const seen: string[] = [];
    const off = runtime.onStatus((pipes) => seen.push(pipes.map((p) => `${p.id}:${p.state}`).join(',')));
    const first = runtime.apply(configFor({ a: { root: rootA, url: receiver.url } }));
    const second = runtime.apply(configFor({ b: { root: rootB, url: receiver.url } }));
    expect(await first).to.deep.equal({ added: ['a'], removed: [], restarted: [] });
    expect(await second).to.deep.equal({ added: ['b'], removed: ['a'], restarted: [] });
    await eventually(() => seen.includes('b:running'));
    off();
    expect(runtime.status().map((s) => s.id)).to.deep.equal(['b']);
  });

  it('heartbeats its session and re-opens one the receiver lost, then audits again', async () => {
    await runtime.apply(configFor({ a: { root: rootA, url: receiver.url, heartbeat_interval_sec: 0.02 } }));
    await eventually(() => (receiver.sessionsOf('a')[0]?.heartbeats ?? 0) >= 2);
    await eventually(() => receiver.batches.some((b) => b.scan?.done));
    receiver.expire(receiver.sessionsOf('a')[0]!.id);
    const second = await eventually(() => receiver.sessionsOf('a')[1]);
    await eventually(() => receiver.batches.some((b) => b.session === second.id && b.scan?.done));
    expect(receiver.batches.filter((b) => b.session === second.id).flatMap((b) => b.events)).to.have.length(7);
  });

  it('stop() closes every session and clears the status', async () => {
    await runtime.apply(configFor({ a: { root: rootA, url: receiver.url }, b: { root: rootB, url: receiver.url } }));
    await eventually(() => receiver.sessions.length === 2);
    await runtime.stop();
    expect(receiver.sessions.every((s) => s.closed)).to.equal(true);
    expect(runtime.status()).to.deep.equal([]);
    await expectRejection(runtime.apply(configFor({})), /stopped/);
  });
});

async function expectRejection(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  let error: unknown;
  await promise.catch((err: unknown) => (error = err));
  expect(error, 'expected a rejection').to.be.instanceOf(Error);
  expect((error as Error).message).to.match(pattern);
}
