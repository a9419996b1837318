import { expect } from 'chai';
import pino from 'pino';
import { EventBus, MAX_REPLAY_EVENT_BYTES } from '../../server/events/event-bus.js';
import { CloseCode, eventually, FRAME_TYPE_MAX_BYTES, MAX_STATUS_PIPES, RawAgentClient, startFusion, type TestFusion } from '../harness/index.js';

const pipe = (i: number, error = ''): { id: string; state: 'error'; records_sent: number; last_error: string } => ({
  id: `pipe-${i}`,
  state: 'error',
  records_sent: i,
  last_error: error,
});

describe('security: memory is bounded per agent and per request', () => {
  let fusion: TestFusion;

  beforeEach(async () => {
    fusion = await startFusion();
  });
  // Fusion closes the raw agents it connected when it stops.
  afterEach(() => fusion.stop());

  const connect = (id: string): Promise<RawAgentClient> => fusion.rawAgent(id);

  it('refuses a status frame over its byte limit with frame_too_large (4009), and one with too many pipes with 4000', async () => {
    const big = await connect('big-status');
    const pipes = Array.from({ length: 100 }, (_, i) => pipe(i, 'e'.repeat(4000)));
    expect(JSON.stringify({ type: 'status', pipes }).length).to.be.greaterThan(FRAME_TYPE_MAX_BYTES.status!);
    big.send({ type: 'status', pipes });
    const error = await big.next('error');
    expect(error.code).to.equal('frame_too_large');
    expect(error.message).to.include('status frame');
    expect(await big.closed()).to.equal(CloseCode.FrameTooLarge);
    const many = await connect('many-pipes');
    many.send({ type: 'status', pipes: Array.from({ length: MAX_STATUS_PIPES + 1 }, (_, i) => pipe(i)) });
    expect(await many.closed()).to.equal(CloseCode.ProtocolError);
  });

  it('lists at most 100 pipes per agent, errors cut short, with pipes_total', async () => {
    const agent = await connect('wide');
    agent.send({ type: 'status', pipes: Array.from({ length: 300 }, (_, i) => pipe(i, 'x'.repeat(600))) });
    const view = await eventually(async () => {
      const body = (await fusion.json('GET', '/api/v1/management/agents')).body as { agents: Array<{ agent_id: string; pipes: Array<{ last_error: string }>; pipes_total: number }> };
      const wide = body.agents.find((a) => a.agent_id === 'wide');
      return wide && wide.pipes_total === 300 ? wide : undefined;
    });
    expect(view.pipes).to.have.length(100);
    expect(view.pipes[0]!.last_error.length).to.be.at.most(513);
  });

  it('keeps the replay buffer within its byte budget, large events as summaries', () => {
    const bus = new EventBus(pino({ level: 'silent' }), 1000, 256 * 1024);
    const heard: unknown[] = [];
    bus.subscribe((e) => heard.push(e));
    const pipes = Array.from({ length: 50 }, (_, i) => pipe(i, 'x'.repeat(1000)));
    for (let i = 0; i < 500; i++) bus.publish('agent.pipes', { agent_id: `a-${i % 7}`, pipes });
    expect(bus.replayBufferBytes).to.be.at.most(256 * 1024);
    expect((heard[0] as { data: { pipes: unknown[] } }).data.pipes, 'live listeners get the whole event').to.have.length(50);
    const replay = bus.since(bus.lastEventId - 1)!;
    expect(replay).to.have.length(1);
    expect(replay[0]!.data).to.deep.equal({ truncated: true, bytes: JSON.stringify({ agent_id: 'a-2', pipes }).length, agent_id: 'a-2' });
    expect(JSON.stringify({ agent_id: 'a-2', pipes }).length).to.be.greaterThan(MAX_REPLAY_EVENT_BYTES);
    for (let i = 0; i < 5000; i++) bus.publish('agent.pipes', { agent_id: 'small', pipes: [] });
    expect(bus.since(bus.lastEventId - 1000)).to.have.length(1000);
  });
});
