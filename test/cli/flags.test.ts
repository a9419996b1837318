import { expect } from 'chai';
import { CliError } from '../../cli/errors.js';
import { numberFlag, timeFlag, wholeFlag } from '../../cli/flags.js';

describe('fustorctl flag values', () => {
  const now = Date.UTC(2026, 10, 30, 12, 0, 0);
  const usage = (fn: () => unknown): CliError => {
    try {
      fn();
    } catch (err) {
      expect(err).to.be.instanceOf(CliError);
      expect((err as CliError).exitCode).to.equal(2);
      return err as CliError;
    }
    throw new Error('expected a usage error');
  };

  it('reads times as durations back or ahead, ISO dates and times, or epoch milliseconds', () => {
    expect(timeFlag({ since: '90s' }, 'since', 'ago', now)).to.equal(now - 90_000);
    expect(timeFlag({ since: '30m' }, 'since', 'ago', now)).to.equal(now - 1_800_000);
    expect(timeFlag({ expires: '12h' }, 'expires', 'ahead', now)).to.equal(now + 43_200_000);
    expect(timeFlag({ expires: '7d' }, 'expires', 'ahead', now)).to.equal(now + 7 * 86_400_000);
    expect(timeFlag({ until: '2026-12-01' }, 'until', 'ago', now)).to.equal(Date.UTC(2026, 11, 1));
    expect(timeFlag({ until: '2026-12-01T08:00:00+01:00' }, 'until', 'ago', now)).to.equal(Date.UTC(2026, 11, 1, 7));
    expect(timeFlag({ until: '1796040010103' }, 'until', 'ago', now)).to.equal(1796040010103);
    expect(timeFlag({}, 'until', 'ago', now)).to.equal(undefined);
    expect(usage(() => timeFlag({ since: 'yesterday' }, 'since', 'ago', now)).message).to.match(/^--since must be an ISO date or time/);
    expect(usage(() => timeFlag({ since: '5w' }, 'since', 'ago', now)).message).to.include('"5w"');
  });

  it('reads numbers and whole numbers, naming the flag when one is not', () => {
    expect(numberFlag({ percent: '12.5' }, 'percent')).to.equal(12.5);
    expect(wholeFlag({ 'batch-size': '10' }, 'batch-size')).to.equal(10);
    expect(wholeFlag({}, 'batch-size')).to.equal(undefined);
    expect(usage(() => numberFlag({ percent: '' }, 'percent')).message).to.equal('--percent must be a number, got ""');
    expect(usage(() => numberFlag({ percent: '1e999' }, 'percent')).message).to.equal('--percent must be a number, got "1e999"');
    expect(usage(() => wholeFlag({ pause: '1.5' }, 'pause')).message).to.equal('--pause must be a whole number, got "1.5"');
  });
});
