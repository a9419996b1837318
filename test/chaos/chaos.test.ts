import { expect } from 'chai';
import { runChaos } from './chaos-run.js';

/** The short form of `npm run chaos` (scripts/chaos.ts runs at least 20 kills). */
describe('chaos: SIGKILL at random points loses nothing acknowledged', function () {
  this.timeout(150_000);

  it('keeps every acknowledged config save, group rollout, enrollment and command across 3 kills', async () => {
    const report = await runChaos({ kills: 3, agents: 8, maxRoundMs: 1200 });
    expect(report.kills).to.equal(3);
    const total = Object.values(report.acked).reduce((a, b) => a + b, 0);
    expect(total, JSON.stringify(report.acked)).to.be.at.least(3);
    expect(report.lost, `killed ${report.killPoints.join('; ')}`).to.deep.equal([]);
  });
});
