import { expect } from 'chai';
import { TurnBudget } from '../../server/loop/turn-budget.js';
import { FleetSummary } from '../../server/agents/fleet-summary.js';
import type { AgentView } from '../../server/agents/agent-view.js';
import { eventually } from '../harness/eventually.js';

const busy = (ms: number): void => {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // holds the loop, as a long synchronous stretch would
  }
};

describe('the event loop budget', () => {
  it('is spent once a turn did its budget of work, and the next turn starts a new one', async () => {
    const budget = new TurnBudget(5);
    expect(budget.spent()).to.equal(false); // the turn starts here
    busy(6);
    expect(budget.spent()).to.equal(true);
    await budget.next();
    expect(budget.spent()).to.equal(false);
  });

  it('lets other work run between turns and resumes the deferred work in the order it waited', async () => {
    const budget = new TurnBudget(2);
    const order: number[] = [];
    let between = 0;
    const job = async (n: number): Promise<void> => {
      while (budget.spent()) await budget.next();
      busy(1);
      order.push(n);
    };
    setImmediate(() => between++);
    await Promise.all(Array.from({ length: 12 }, (_, n) => job(n)));
    expect(order).to.deep.equal([...Array(12).keys()]);
    expect(between).to.equal(1); // the immediate queued before ran while the jobs waited
  });

  it('wakes only as many waiting jobs per turn as its budget runs, not every one of them every turn', async () => {
    const budget = new TurnBudget(2);
    let waits = 0;
    let turns = 0;
    let done = 0;
    const job = async (): Promise<void> => {
      while (budget.spent()) {
        waits++;
        await budget.next();
      }
      busy(0.5);
      done++;
    };
    const count = (): void => {
      turns++;
      if (done < 200) setImmediate(count);
    };
    setImmediate(count);
    await Promise.all(Array.from({ length: 200 }, job));
    expect(done).to.equal(200);
    expect(turns, 'the jobs took many turns').to.be.above(20);
    // Each job waits about once; woken every turn, the 200 would wait thousands of times in all.
    expect(waits).to.be.below(400);
    expect(budget.waiting).to.equal(0);
  });
});

describe('fleet counts', () => {
  const view = { status: 'online', drift: false, config: { status: 'applied' }, health: { status: 'healthy' } } as unknown as AgentView;

  it('are reused for five times as long as the last count took, however short maxAge is', async () => {
    let counted = 0;
    const summary = new FleetSummary(async () => {
      counted++;
      busy(40);
      return { agents: [view], next_cursor: null };
    }, 0);
    const first = await summary.counts();
    expect(first).to.include({ agents: 1, online: 1 });
    expect(await summary.counts()).to.equal(first); // within 5 × 40 ms: the same count
    expect(counted).to.equal(1);
    const later = await eventually(async () => {
      const now = await summary.counts();
      return now !== first && now;
    });
    expect(later.as_of).to.be.at.least(first.as_of + 200);
    expect(counted).to.equal(2);
  });
});
