import { expect } from 'chai';
import { planConfigFrame, type PlannedConfig } from '../../server/config/config-plan.js';
import { PlannedFrames } from '../../server/gateway/planned-frames.js';
import { configSignature, validateConfig } from '../../shared/config/index.js';
import { sampleConfig } from '../harness/index.js';

function signed(document: Record<string, unknown>): { document: Record<string, unknown>; signature: string } {
  const checked = validateConfig(document);
  if (!checked.ok) throw new Error('invalid sample');
  return { document: checked.config as Record<string, unknown>, signature: configSignature(checked.config) };
}

describe('config frames planned once per step', () => {
  const base = signed(sampleConfig({ pipes: 1 }));
  const target = signed(sampleConfig({ pipes: 2 }));

  it('plans a patch with its encoded text, or nothing when the agent runs the target', () => {
    const plan = planConfigFrame({ revision: 3, ...target }, base.signature, (s) => (s === base.signature ? base.document : undefined));
    expect(plan?.frame).to.include({ encoding: 'patch', signature: target.signature, base_signature: base.signature, revision: 3 });
    expect(JSON.parse(plan!.text)).to.deep.equal(plan!.frame);
    expect(planConfigFrame({ revision: 3, ...target }, target.signature, () => undefined)).to.equal(null);
    expect(planConfigFrame({ revision: 3, ...target }, base.signature, () => undefined)?.frame.encoding).to.equal('full');
  });

  it('weighs a patch against the full document the same way with the document\'s JSON at hand', () => {
    // A small change: the patch wins. A base with nothing in common: the full document wins.
    const unrelated = signed(sampleConfig({ pipes: 0, fusionUrl: 'http://10.0.0.1:9' }));
    for (const [from, expected] of [
      [base, 'patch'],
      [unrelated, 'full'],
    ] as const) {
      const lookup = (s: string): Record<string, unknown> | undefined => (s === from.signature ? from.document : undefined);
      const plain = planConfigFrame({ revision: 3, ...target }, from.signature, lookup);
      const withText = planConfigFrame({ revision: 3, ...target, documentText: JSON.stringify(target.document) }, from.signature, lookup);
      expect(plain?.frame.encoding).to.equal(expected);
      expect(withText).to.deep.equal(plain);
    }
    const patchText = planConfigFrame({ revision: 3, ...target }, base.signature, () => base.document)!.text;
    const fullText = planConfigFrame({ revision: 3, ...target }, null, () => undefined)!.text;
    expect(patchText.length).to.be.lessThan(fullText.length);
  });

  it('computes a step once for every agent taking it, and apart by revision and full requests', () => {
    const frames = new PlannedFrames(4);
    let made = 0;
    const make = (): PlannedConfig | null => {
      made += 1;
      return planConfigFrame({ revision: 3, ...target }, base.signature, () => base.document);
    };
    const first = frames.get(base.signature, target.signature, 3, false, make);
    for (let i = 0; i < 100; i++) expect(frames.get(base.signature, target.signature, 3, false, make)).to.equal(first);
    expect(made).to.equal(1);
    frames.get(base.signature, target.signature, 4, false, make);
    frames.get(base.signature, target.signature, 3, true, make);
    frames.get(null, target.signature, 3, false, make);
    expect(made).to.equal(4);
  });

  it('keeps a bounded number of plans, dropping the least recently used', () => {
    const frames = new PlannedFrames(2);
    let made = 0;
    const make = (): null => {
      made += 1;
      return null;
    };
    frames.get('a', 't', 1, false, make);
    frames.get('b', 't', 1, false, make);
    frames.get('a', 't', 1, false, make); // a is now the most recent
    frames.get('c', 't', 1, false, make); // drops b
    frames.get('a', 't', 1, false, make);
    expect(made).to.equal(3);
    frames.get('b', 't', 1, false, make);
    expect(made).to.equal(4);
  });

  it('answers the same step asked for again and again without planning it again, and tells steps apart', () => {
    const frames = new PlannedFrames(1);
    const made: string[] = [];
    const make = (label: string) => (): PlannedConfig | null => {
      made.push(label);
      return planConfigFrame({ revision: 3, ...target }, base.signature, () => base.document);
    };
    const first = frames.get(base.signature, target.signature, 3, false, make('a'));
    for (let i = 0; i < 3; i++) expect(frames.get(base.signature, target.signature, 3, false, make('a again'))).to.equal(first);
    frames.get(base.signature, target.signature, 4, false, make('other revision'));
    frames.get(base.signature, target.signature, 4, true, make('full'));
    frames.get(null, target.signature, 4, true, make('from nothing'));
    expect(frames.get(base.signature, target.signature, 3, false, make('a, evicted meanwhile'))).to.deep.equal(first);
    expect(made).to.deep.equal(['a', 'other revision', 'full', 'from nothing', 'a, evicted meanwhile']);
  });
});
