import { expect } from 'chai';
import path from 'node:path';
import type { AgentPipeRuntime } from '../../agent/runtime/pipe-runtime.js';
import type { PipeStatus } from '../../shared/protocol/index.js';
import { eventually } from '../harness/eventually.js';
import { configFor, fastRuntime, tempDir, writeTree } from './runtime-fixtures.js';
import { TestReceiver } from './runtime-receiver.js';

const ALL_PATHS = ['', 'a.txt', 'd', 'd/b.txt', 'd/c.txt', 'e.txt', 'f.txt'];

describe('fusion sender driver', () => {
  let receiver: TestReceiver;
  let runtime: AgentPipeRuntime;
  let dir: { path: string; remove(): Promise<void> };
  let root: string;

  beforeEach(async () => {
    receiver = new TestReceiver();
    await receiver.listen();
    dir = await tempDir('fustor-sender-');
    root = path.join(dir.path, 'root');
    await writeTree(root, { 'a.txt': 'a', 'd/b.txt': 'bb', 'd/c.txt': 'ccc', 'e.txt': 'e', 'f.txt': 'f' });
    runtime = fastRuntime();
  });

  afterEach(async () => {
    await runtime.stop();
    await receiver.close();
    await dir.remove();
  });

  const status = (): PipeStatus | undefined => runtime.status().find((s) => s.id === 'p');

  /** Every path delivered, each record accepted exactly once. */
  function expectCompleteDelivery(): void {
    expect(receiver.pathsOf('p')).to.deep.equal(ALL_PATHS);
    const accepted = receiver.batches.flatMap((b) => b.events.map((e) => e.path)).sort();
    expect(accepted).to.deep.equal(ALL_PATHS);
  }

  it('retries while Fusion is unreachable and delivers everything once it is back', async () => {
    await receiver.close();
    await runtime.apply(configFor({ p: { root, url: receiver.url, batch_size: 2 } }));
    await eventually(() => status()?.state === 'error' && /unreachable.*ECONNREFUSED/.test(status()!.last_error ?? ''));
    expect(receiver.sessions).to.have.length(0);

    await receiver.listen();
    await eventually(() => status()?.state === 'running' && status()!.records_sent === ALL_PATHS.length);
    expectCompleteDelivery();
  });

  it('retries a batch answered 5xx until it is accepted, losing nothing', async () => {
    receiver.failNextEvents = 3;
    await runtime.apply(configFor({ p: { root, url: receiver.url, batch_size: 2, max_consecutive_errors: 2 } }));
    await eventually(() => receiver.batches.some((b) => b.scan?.done));
    expect(receiver.answers.filter((a) => a === 'events 503')).to.have.length(3);
    expectCompleteDelivery();
    await eventually(() => status()?.state === 'running');
    expect(status()!.last_error).to.match(/answered 503 unavailable/);
  });

  it('waits for a receiver answering 503 to every request', async () => {
    receiver.unavailable = true;
    await runtime.apply(configFor({ p: { root, url: receiver.url } }));
    await eventually(() => receiver.answers.filter((a) => a === 'sessions 503').length >= 3);
    await eventually(() => status()?.state === 'error');
    receiver.unavailable = false;
    await eventually(() => status()?.state === 'running' && status()!.records_sent === ALL_PATHS.length);
    expectCompleteDelivery();
  });

  it('reports a refused key as an error and recovers once Fusion accepts it', async () => {
    receiver.apiKey = 'another-key';
    await runtime.apply(configFor({ p: { root, url: receiver.url, key: 'my-key' } }));
    await eventually(() => status()?.state === 'error' && /refused: POST \/api\/v1\/pipe\/sessions answered 401 unauthorized/.test(status()!.last_error ?? ''));
    expect(status()!.last_error).to.not.include('my-key');
    receiver.apiKey = 'my-key';
    await eventually(() => status()?.state === 'running' && status()!.records_sent === ALL_PATHS.length);
    expectCompleteDelivery();
  });

  it('splits a batch the receiver finds too large', async () => {
    receiver.maxEvents = 2;
    await runtime.apply(configFor({ p: { root, url: receiver.url, batch_size: 5 } }));
    await eventually(() => receiver.batches.some((b) => b.scan?.done));
    expect(receiver.answers).to.include('events 413');
    expect(receiver.batches.every((b) => b.events.length <= 2)).to.equal(true);
    expect(receiver.batches.filter((b) => b.scan?.done)).to.have.length(1);
    expect(receiver.batches.at(-1)!.scan!.done).to.equal(true);
    expectCompleteDelivery();
  });

  it('closes a session Fusion opened while the pipe was stopping, instead of leaving it to time out', async () => {
    receiver.sessionAnswerDelayMs = 300;
    await runtime.apply(configFor({ p: { root, url: receiver.url } }));
    await eventually(() => receiver.sessions.length === 1);
    await runtime.stop();
    expect(receiver.sessions).to.have.length(1);
    expect(receiver.sessions[0]!.closed).to.equal(true);
    expect(receiver.batches).to.have.length(0);
  });

  it('stops promptly while it is still retrying', async () => {
    receiver.unavailable = true;
    await runtime.apply(configFor({ p: { root, url: receiver.url } }));
    await eventually(() => receiver.answers.length >= 2);
    const started = Date.now();
    await runtime.stop();
    expect(Date.now() - started).to.be.below(1_000);
    expect(runtime.status()).to.deep.equal([]);
  });
});
