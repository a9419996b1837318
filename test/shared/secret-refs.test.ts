import { expect } from 'chai';
import { resolveSecrets, secretNames, secretsDigest, validateConfig } from '../../shared/config/index.js';

describe('secret references', () => {
  const document = {
    senders: { out: { driver: 'fusion', uri: 'http://f', credential: { key: '${secret:a}' }, driver_params: { both: '${secret:b}-${secret:a}' } } },
    list: ['${secret:c}', 1, null],
  };

  it('finds every referenced name at any depth, sorted and distinct', () => {
    expect(secretNames(document)).to.deep.equal(['a', 'b', 'c']);
    expect(secretNames({ plain: 'no ${reference} here' })).to.deep.equal([]);
  });

  it('resolves into a copy, or lists the names without a value', () => {
    const resolved = resolveSecrets(document, { a: 'A', b: 'B', c: 'C' });
    expect(resolved).to.deep.equal({
      ok: true,
      document: { senders: { out: { driver: 'fusion', uri: 'http://f', credential: { key: 'A' }, driver_params: { both: 'B-A' } } }, list: ['C', 1, null] },
    });
    expect(document.senders.out.credential.key).to.equal('${secret:a}');
    expect(resolveSecrets(document, { a: 'A' })).to.deep.equal({ ok: false, missing: ['b', 'c'] });
  });

  it('digests versions, not values, independent of order', () => {
    expect(secretsDigest({ a: 'v1', b: 'v2' })).to.equal(secretsDigest({ b: 'v2', a: 'v1' }));
    expect(secretsDigest({ a: 'v1' })).to.not.equal(secretsDigest({ a: 'v2' }));
  });

  it('a malformed reference fails validation', () => {
    const check = validateConfig({ senders: { out: { driver: 'fusion', uri: 'http://f', credential: { key: '${secret:bad name}' } } } });
    expect(check.ok).to.equal(false);
    expect(JSON.stringify(check)).to.contain('malformed secret reference');
  });
});
