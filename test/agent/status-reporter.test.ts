import { expect } from 'chai';
import { encodeFrame, FRAME_TYPE_MAX_BYTES, MAX_STATUS_PIPES, STATUS_ERROR_CHARS, type PipeStatus } from '../../shared/protocol/index.js';
import { StatusReporter } from '../../agent/status-reporter.js';
import { eventually } from '../harness/eventually.js';

const pipe = (state: PipeStatus['state'], records: number, error: string | null = null): PipeStatus[] => [
  { id: 'p', state, records_sent: records, last_error: error },
];

describe('agent status reporter', () => {
  it('sends state changes at once and coalesces counter-only changes, the latest winning', async () => {
    const sent: PipeStatus[][] = [];
    const reporter = new StatusReporter((pipes) => (sent.push(pipes), true), 100);
    reporter.update(pipe('starting', 0));
    reporter.update(pipe('running', 0));
    expect(sent.map((s) => s[0]!.state)).to.deep.equal(['starting', 'running']);
    for (let i = 1; i <= 50; i++) reporter.update(pipe('running', i * 500));
    expect(sent).to.have.length(2);
    await eventually(() => sent.length === 3);
    expect(sent[2]![0]!.records_sent).to.equal(25_000);
    reporter.update(pipe('error', 25_000, 'unreachable'));
    expect(sent).to.have.length(4);
    reporter.stop();
  });

  it('retries on the next update when the frame could not be sent, and stops cleanly', () => {
    let connected = false;
    const sent: PipeStatus[][] = [];
    const reporter = new StatusReporter((pipes) => (connected ? (sent.push(pipes), true) : false), 60_000);
    reporter.update(pipe('running', 1));
    connected = true;
    reporter.update(pipe('running', 2));
    expect(sent.map((s) => s[0]!.records_sent)).to.deep.equal([2]);
    reporter.update(pipe('running', 3));
    reporter.stop();
    expect(sent).to.have.length(1);
  });

  it("keeps its frames within Fusion's status limits however many pipes fail, however long their errors", () => {
    const sent: PipeStatus[][] = [];
    const reporter = new StatusReporter((pipes) => (sent.push(pipes), true), 100);
    const many = Array.from({ length: 2000 }, (_, i): PipeStatus => ({ id: `pipe-${'x'.repeat(100)}-${i}`, state: 'error', records_sent: i, last_error: 'e'.repeat(5000) }));
    reporter.update(many);
    expect(sent[0]).to.have.length(MAX_STATUS_PIPES);
    expect(sent[0]![0]!.last_error!.length).to.equal(STATUS_ERROR_CHARS + 1);
    expect(encodeFrame({ type: 'status', pipes: sent[0]! }).length).to.be.below(FRAME_TYPE_MAX_BYTES.status!);
    reporter.stop();
  });
});
