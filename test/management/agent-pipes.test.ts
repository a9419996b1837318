import { expect } from 'chai';
import { eventually } from '../harness/eventually.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';

interface PipesView {
  online: boolean;
  last_seen: number | null;
  pipes: Array<{ id: string; state: string; records_sent: number; last_error: string | null }>;
  pipes_stale: boolean;
  pipes_as_of: number | null;
}

describe("an agent's pipes: live while it is online, last reported while it is offline", function () {
  this.timeout(20_000);
  let fusion: TestFusion;

  const agentView = async (id: string): Promise<PipesView> => (await (await fusion.api(`/api/v1/management/agents/${id}`)).json()) as PipesView;
  /** The agent as the paged listing shows it. */
  const listedView = async (id: string): Promise<PipesView & { status: string }> => {
    const body = (await (await fusion.api(`/api/v1/management/agents?q=${id}`)).json()) as { agents: Array<PipesView & { agent_id: string; status: string }> };
    return body.agents.find((a) => a.agent_id === id)!;
  };

  beforeEach(async () => {
    fusion = await startFusion();
  });
  afterEach(async () => {
    await fusion.stop();
  });

  it('marks the pipes of a disconnected agent stale, as of when it was last seen, and live again once it reports', async () => {
    const client = await fusion.rawAgent('node-1');
    client.send({ type: 'status', pipes: [{ id: 'research', state: 'running', records_sent: 12, last_error: null }] });
    const live = await eventually(async () => {
      const view = await agentView('node-1');
      return view.pipes.length === 1 ? view : undefined;
    });
    expect(live).to.deep.include({ online: true, pipes_stale: false });
    expect(live.pipes_as_of).to.be.a('number');

    client.close();
    const offline = await eventually(async () => {
      const view = await agentView('node-1');
      return view.online ? undefined : view;
    });
    // Nothing is lost: the last reported states stay, marked as such.
    expect(offline.pipes).to.deep.equal([{ id: 'research', state: 'running', records_sent: 12, last_error: null }]);
    expect(offline.pipes_stale).to.equal(true);
    expect(offline.pipes_as_of).to.equal(offline.last_seen);
    expect(offline.pipes_as_of).to.be.at.least(live.pipes_as_of!);
    const listed = await listedView('node-1');
    expect(listed).to.deep.include({ status: 'offline', pipes_stale: true, pipes_as_of: listed.last_seen });

    const again = await fusion.rawAgent('node-1');
    again.send({ type: 'status', pipes: [{ id: 'research', state: 'error', records_sent: 0, last_error: 'source gone' }] });
    const back = await eventually(async () => {
      const view = await agentView('node-1');
      return view.pipes[0]?.state === 'error' ? view : undefined;
    });
    expect(back).to.deep.include({ online: true, pipes_stale: false });
    expect(back.pipes_as_of).to.be.at.least(offline.pipes_as_of!);
    expect(await listedView('node-1')).to.deep.include({ status: 'online', pipes_stale: false });
  });

  it('keeps the last reported pipes across a Fusion restart, stale until the agent is back', async () => {
    const client = await fusion.rawAgent('node-2');
    client.send({ type: 'status', pipes: [{ id: 'p', state: 'running', records_sent: 1, last_error: null }] });
    await eventually(async () => (await agentView('node-2')).pipes.length === 1);
    client.close();
    await eventually(async () => !(await agentView('node-2')).online);
    await fusion.restart();
    const view = await agentView('node-2');
    expect(view).to.deep.include({ online: false, pipes_stale: true });
    expect(view.pipes).to.have.length(1);
    expect(view.pipes_as_of).to.be.a('number');
  });
});
