import { expect } from 'chai';
import { canonicalJson, configSignature, parseConfigText, validateConfig } from '../../shared/config/index.js';

describe('shared/config signature', () => {
  it('sorts keys at every level, so key order does not change the signature', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: null } })).to.equal('{"a":{"c":null,"d":[1,{"y":2,"z":1}]},"b":1}');
    expect(configSignature({ a: 1, b: 2 })).to.equal(configSignature({ b: 2, a: 1 }));
  });

  it('writes what JSON.stringify writes for every value of a parsed document, keys aside', () => {
    const value = { s: 'quote " and \\ and \u2028', n: [0, -1.5, 1e21], e: {}, a: [], u: undefined, l: [null, true, [{}]] };
    expect(canonicalJson(value)).to.equal(JSON.stringify({ a: [], e: {}, l: [null, true, [{}]], n: [0, -1.5, 1e21], s: value.s }));
    expect(canonicalJson([undefined, 1])).to.equal('[null,1]');
    expect(canonicalJson('x')).to.equal('"x"');
  });

  it('is sha256:<64 hex> and changes with any value', () => {
    const sig = configSignature({ a: 1 });
    expect(sig).to.match(/^sha256:[0-9a-f]{64}$/);
    expect(configSignature({ a: 2 })).to.not.equal(sig);
  });

  it('ignores comments, white space and spelled-out defaults once normalised', () => {
    const a = parseConfigText('sources:\n  s: {driver: fs, uri: /data}\nsenders: {}\npipes: {}\n', 'yaml');
    const b = parseConfigText('# a comment\nsources:\n  s:\n    driver: fs\n    uri: /data\n    disabled: false\n', 'yaml');
    expect(a.ok && b.ok).to.equal(true);
    if (a.ok && b.ok) expect(configSignature(a.config)).to.equal(configSignature(b.config));
  });
});

describe('shared/config validation', () => {
  it('lists every broken reference and unknown driver with its path', () => {
    const check = validateConfig({
      sources: { s: { driver: 'nfs-magic', uri: '/x' } },
      senders: { f: { driver: 'fusion', uri: 'http://f' } },
      pipes: { p: { source: 'missing', sender: 'gone' } },
    });
    expect(check.ok).to.equal(false);
    if (check.ok) return;
    const paths = check.errors.map((e) => e.path);
    expect(paths).to.include.members(['sources.s.driver', 'senders.f.credential.key', 'pipes.p.source', 'pipes.p.sender']);
  });

  it('refuses a config that names another agent', () => {
    const check = validateConfig({ agent_id: 'a', sources: {}, senders: {}, pipes: {} }, { agentId: 'b' });
    expect(check.ok).to.equal(false);
  });

  it('refuses a YAML alias bomb without expanding it', () => {
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 30; i++) lines.push(`${String.fromCharCode(97 + (i % 26))}${i}: &l${i} [${Array(10).fill(i === 1 ? '*a' : `*l${i - 1}`).join(',')}]`);
    const check = parseConfigText(lines.join('\n'), 'yaml');
    expect(check.ok).to.equal(false);
    if (!check.ok) expect(check.errors[0]!.message).to.match(/alias/i);
  });

  it('reports YAML syntax errors and oversized documents', () => {
    const bad = parseConfigText('sources: [unclosed', 'yaml');
    expect(bad.ok).to.equal(false);
    const huge = parseConfigText(`x: "${'a'.repeat(1024 * 1024 + 1)}"`, 'yaml');
    expect(huge.ok).to.equal(false);
    if (!huge.ok) expect(huge.errors[0]!.message).to.match(/exceeds the limit/);
  });
});
