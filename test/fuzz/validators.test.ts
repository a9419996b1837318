import { expect } from 'chai';
import fc from 'fast-check';
import { parseDocumentText, validateConfig } from '../../shared/config/index.js';
import { validateFusionConfig } from '../../server/dataplane/fusion-config.js';
import { checkTemplate } from '../../server/groups/template-render.js';
import { treeIssue } from '../../shared/plain-tree.js';
import { documentText, fuzzParameters, hostileName, hostileValue } from './fuzz-runs.js';

describe('fuzz: config and template validators', () => {
  it('parse any text as YAML or JSON without throwing, and never hand back a reserved key', () => {
    fc.assert(
      fc.property(documentText, fc.constantFrom('yaml' as const, 'json' as const), (text, format) => {
        const parsed = parseDocumentText(text, format);
        if (parsed.ok) expect(treeIssue(parsed.value)).to.equal(undefined);
        else expect(parsed.errors.length).to.be.greaterThan(0);
      }),
      fuzzParameters(300),
    );
  });

  it('validate any value as an agent config, a fusion config and a template without throwing', () => {
    const shaped = fc.record({
      sources: fc.dictionary(hostileName, hostileValue, { maxKeys: 3 }),
      senders: fc.dictionary(hostileName, hostileValue, { maxKeys: 3 }),
      pipes: fc.dictionary(hostileName, fc.record({ source: hostileName, sender: hostileName }), { maxKeys: 3 }),
      receivers: fc.dictionary(hostileName, hostileValue, { maxKeys: 2 }),
      views: fc.dictionary(hostileName, hostileValue, { maxKeys: 2 }),
    });
    fc.assert(
      fc.property(fc.oneof(hostileValue, shaped), (value) => {
        validateConfig(value);
        validateFusionConfig(value);
        checkTemplate(value);
      }),
      fuzzParameters(300),
    );
  });

  it('accept a pipe only when its source and sender are own entries of the config', () => {
    const fs = { driver: 'fs', uri: '/tmp' };
    const out = { driver: 'fusion', uri: 'http://127.0.0.1:1', credential: { key: 'k' } };
    fc.assert(
      fc.property(hostileName, hostileName, (source, sender) => {
        const check = validateConfig({ sources: { src: fs }, senders: { out }, pipes: { p1: { source, sender } } });
        expect(check.ok).to.equal(source === 'src' && sender === 'out');
      }),
      fuzzParameters(100),
    );
  });
});
