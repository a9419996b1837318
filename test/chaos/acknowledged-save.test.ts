import { expect } from 'chai';
import { FusionProcess } from '../harness/fusion-process.js';
import { eventually } from '../harness/eventually.js';
import { StatusLoad } from './agent-load.js';
import { SaveLoops, lostSaves } from './acked-saves.js';

/**
 * A 201 must mean committed even while agent frames keep the group commit's
 * batch open: Fusion is killed (SIGKILL) the moment a 201 reaches the client,
 * with many agents sending `status` and many saves in flight.
 */
describe('an acknowledged save survives a kill on its answer', function () {
  this.timeout(150_000);
  let fusion: FusionProcess;
  let load: StatusLoad | undefined;

  before(async () => {
    fusion = await FusionProcess.start();
  });
  after(async () => {
    load?.stop();
    await fusion.stop();
  });

  it('keeps every 201-answered save after SIGKILL on the first byte of a 201, with 30 agents sending status', async () => {
    const lost: string[] = [];
    let acked = 0;
    for (let round = 0; round < 2; round++) {
      load = await StatusLoad.start(fusion.url, fusion.enrollmentToken, { count: 30, prefix: `load-${round}`, intervalMs: 20, pipes: 40 });
      const killAfter = 10 + Math.floor(Math.random() * 20);
      let killed = false;
      const saves = new SaveLoops(fusion.url, fusion.adminToken, {
        concurrency: 24,
        prefix: `admin-${round}`,
        onAck: () => {
          if (!killed && saves.acked.length >= killAfter) {
            killed = true;
            void fusion.kill();
          }
        },
      });
      await eventually(() => killed, { timeoutMs: 20_000, message: 'enough saves acknowledged to kill on one' });
      await saves.stop();
      load.stop();
      await fusion.restart();
      acked += saves.acked.length;
      lost.push(...(await lostSaves(fusion.url, fusion.adminToken, saves.acked)).map((s) => `${s.agentId} ${s.signature}`));
    }
    expect(acked).to.be.at.least(20);
    expect(lost, `${lost.length} of ${acked} acknowledged saves lost`).to.deep.equal([]);
  });
});
