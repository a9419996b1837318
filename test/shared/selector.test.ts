import { expect } from 'chai';
import fc from 'fast-check';
import {
  SELECTOR_MAX_LENGTH,
  SelectorError,
  formatSelector,
  matchesSelector,
  parseSelector,
} from '../../shared/selector/selector.js';

const prodEu = { env: 'prod', region: 'eu' };
const prodUsCanary = { env: 'prod', region: 'us', canary: 'true' };
const staging = { env: 'staging' };

function select(text: string, ...sets: Record<string, string>[]): number[] {
  const selector = parseSelector(text);
  return sets.flatMap((labels, i) => (matchesSelector(selector, labels) ? [i] : []));
}

describe('label selectors', () => {
  it('matches equality, inequality, sets, existence and absence, all ANDed', () => {
    expect(select('env=prod', prodEu, prodUsCanary, staging)).to.deep.equal([0, 1]);
    expect(select('env==prod,region=eu', prodEu, prodUsCanary, staging)).to.deep.equal([0]);
    expect(select('env!=prod', prodEu, prodUsCanary, staging, {})).to.deep.equal([2, 3]);
    expect(select('region in (eu, us)', prodEu, prodUsCanary, staging)).to.deep.equal([0, 1]);
    expect(select('region notin (eu)', prodEu, prodUsCanary, staging)).to.deep.equal([1, 2]);
    expect(select('canary', prodEu, prodUsCanary, staging)).to.deep.equal([1]);
    expect(select('env=prod,region in (eu,us),!canary', prodEu, prodUsCanary, staging)).to.deep.equal([0]);
    expect(select('', prodEu, staging, {})).to.deep.equal([0, 1, 2]);
    expect(select('  ', prodEu)).to.deep.equal([0]);
    expect(select('tier=', { tier: '' }, { tier: 'a' }, {})).to.deep.equal([0]);
  });

  it('looks labels up as own properties only', () => {
    expect(select('constructor', {}, { constructor: 'x' })).to.deep.equal([1]);
    expect(select('!toString', {})).to.deep.equal([0]);
    expect(select('hasOwnProperty=x', {})).to.deep.equal([]);
    expect(() => parseSelector('__proto__=x')).to.throw(SelectorError);
  });

  it('refuses malformed selectors, naming the position', () => {
    const bad: [string, number][] = [
      ['env=prod,', 9],
      ['=prod', 0],
      ['region in eu', 10],
      ['region in (eu', 13],
      ['region in ()', 11],
      ['env=prod region=eu', 9],
      ['!=prod', 1],
      ['env=pr od', 7],
    ];
    for (const [text, position] of bad) {
      expect(() => parseSelector(text), text).to.throw(SelectorError).with.property('position', position);
    }
    expect(() => parseSelector('a'.repeat(64))).to.throw(SelectorError, /longer than 63/);
    expect(() => parseSelector('a,'.repeat(40) + 'a')).to.throw(SelectorError, /at most 32 requirements/);
    expect(() => parseSelector('x'.repeat(SELECTOR_MAX_LENGTH + 1))).to.throw(SelectorError, /at most 1024 characters/);
  });

  it('writes a parsed selector back in a form that parses to the same requirements', () => {
    const name = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,10}$/);
    const requirement = fc.oneof(
      fc.tuple(name, name).map(([k, v]) => `${k}=${v}`),
      fc.tuple(name, name).map(([k, v]) => `${k} != ${v}`),
      fc.tuple(name, fc.array(name, { minLength: 1, maxLength: 4 })).map(([k, vs]) => `${k} in (${vs.join(', ')})`),
      fc.tuple(name, fc.array(name, { minLength: 1, maxLength: 4 })).map(([k, vs]) => `${k} notin (${vs.join(',')})`),
      name,
      name.map((k) => `!${k}`),
    );
    fc.assert(
      fc.property(fc.array(requirement, { minLength: 1, maxLength: 8 }), (reqs) => {
        const parsed = parseSelector(reqs.join(', '));
        expect(parseSelector(formatSelector(parsed)).requirements).to.deep.equal(parsed.requirements);
      }),
    );
  });

  it('never throws anything but SelectorError on arbitrary input', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        try {
          parseSelector(text);
        } catch (err) {
          expect(err).to.be.instanceOf(SelectorError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
