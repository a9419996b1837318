import { expect } from 'chai';
import { setTimeout as delay } from 'node:timers/promises';
import { Alarm, MAX_TIMER_MS } from '../../agent/runtime/alarm.js';

describe('agent runtime: alarm between audits', () => {
  it('waits longer than one timer can hold (a 31-day audit interval) without firing at once', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning.name);
    };
    process.on('warning', onWarning);
    const alarm = new Alarm();
    const stop = new AbortController();
    let woke = false;
    const waiting = alarm.wait(31 * 24 * 3600 * 1000, stop.signal).then(() => {
      woke = true;
    });
    try {
      expect(31 * 24 * 3600 * 1000).to.be.above(MAX_TIMER_MS);
      // An overflowing timer fires after 1 ms; this window is many times that.
      await delay(30);
      expect(woke, 'woke early').to.equal(false);
      alarm.ring();
      await waiting;
      expect(woke).to.equal(true);
      expect(warnings).to.not.include('TimeoutOverflowWarning');
    } finally {
      process.off('warning', onWarning);
      stop.abort();
      await waiting.catch(() => undefined);
    }
  });

  it('keeps a ring that came before the wait, and rejects when the pipe stops', async () => {
    const alarm = new Alarm();
    const stop = new AbortController();
    alarm.ring();
    await alarm.wait(60_000, stop.signal);
    const waiting = alarm.wait(60_000, stop.signal);
    stop.abort(new Error('pipe stopped'));
    let failure: unknown;
    await waiting.catch((err: unknown) => {
      failure = err;
    });
    expect((failure as Error | undefined)?.message).to.equal('pipe stopped');
  });
});
