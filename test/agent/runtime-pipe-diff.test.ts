import { expect } from 'chai';
import { diffPipes, resolvePipes } from '../../agent/runtime/pipe-diff.js';
import { validateConfig, type AgentConfig } from '../../shared/config/index.js';

function config(document: Record<string, unknown>): AgentConfig {
  const check = validateConfig(document);
  if (!check.ok) throw new Error(JSON.stringify(check.errors));
  return check.config;
}

const base = {
  sources: {
    shared: { driver: 'fs', uri: '/data/shared' },
    own: { driver: 'fs', uri: '/data/own' },
  },
  senders: {
    fusion: { driver: 'fusion', uri: 'http://fusion:8102', credential: { key: 'k1' } },
    backup: { driver: 'fusion', uri: 'http://backup:8102', credential: { key: 'k2' } },
  },
  pipes: {
    p1: { source: 'shared', sender: 'fusion' },
    p2: { source: 'shared', sender: 'backup' },
    p3: { source: 'own', sender: 'fusion', audit_interval_sec: 60 },
  },
};

/** A deep copy of `base` changed by `edit`. */
function edited(edit: (doc: typeof base) => void): AgentConfig {
  const doc = structuredClone(base);
  edit(doc);
  return config(doc);
}

describe('pipe diff', () => {
  it('starts every active pipe from nothing', () => {
    const diff = diffPipes(null, config(base));
    expect(diff).to.deep.include({ added: ['p1', 'p2', 'p3'], removed: [], restarted: [], unchanged: [] });
    expect(diff.specs.get('p3')).to.deep.include({ id: 'p3', sourceId: 'own', senderId: 'fusion' });
    expect(diff.specs.get('p3')!.source.uri).to.equal('/data/own');
  });

  it('leaves an identical config untouched, whatever the key order', () => {
    const reordered = config({ pipes: base.pipes, senders: base.senders, sources: base.sources });
    expect(diffPipes(config(base), reordered)).to.deep.include({ added: [], removed: [], restarted: [], unchanged: ['p1', 'p2', 'p3'] });
  });

  it('adds and removes pipes', () => {
    const next = edited((d) => {
      delete (d.pipes as Record<string, unknown>).p2;
      (d.pipes as Record<string, unknown>).p4 = { source: 'own', sender: 'backup' };
    });
    expect(diffPipes(config(base), next)).to.deep.include({ added: ['p4'], removed: ['p2'], restarted: [], unchanged: ['p1', 'p3'] });
  });

  it('restarts a pipe whose own settings changed', () => {
    const next = edited((d) => {
      d.pipes.p3.audit_interval_sec = 120;
    });
    expect(diffPipes(config(base), next)).to.deep.include({ restarted: ['p3'], unchanged: ['p1', 'p2'] });
  });

  it('restarts every pipe that uses a changed source', () => {
    const next = edited((d) => {
      d.sources.shared.uri = '/data/shared-v2';
    });
    expect(diffPipes(config(base), next)).to.deep.include({ added: [], removed: [], restarted: ['p1', 'p2'], unchanged: ['p3'] });
  });

  it('restarts every pipe that uses a changed sender, credential included', () => {
    const next = edited((d) => {
      d.senders.fusion.credential.key = 'rotated';
    });
    expect(diffPipes(config(base), next)).to.deep.include({ restarted: ['p1', 'p3'], unchanged: ['p2'] });
  });

  it('treats a disabled pipe, or one whose source or sender is disabled, as absent', () => {
    const next = edited((d) => {
      Object.assign(d.pipes.p1, { disabled: true });
      Object.assign(d.senders.backup, { disabled: true });
    });
    const diff = diffPipes(config(base), next);
    expect(diff).to.deep.include({ added: [], removed: ['p1', 'p2'], restarted: [], unchanged: ['p3'] });
    expect([...diff.specs.keys()]).to.deep.equal(['p3']);
    // Enabling them again adds them back.
    expect(diffPipes(next, config(base))).to.deep.include({ added: ['p1', 'p2'], removed: [], unchanged: ['p3'] });

    const sourceOff = edited((d) => Object.assign(d.sources.own, { disabled: true }));
    expect(diffPipes(config(base), sourceOff)).to.deep.include({ removed: ['p3'], unchanged: ['p1', 'p2'] });
  });

  it('does not restart a pipe for a change to components it does not use', () => {
    const next = edited((d) => {
      (d.sources as Record<string, unknown>).unused = { driver: 'fs', uri: '/data/unused' };
      d.sources.own.uri = '/data/own-v2';
    });
    expect(diffPipes(config(base), next)).to.deep.include({ restarted: ['p3'], unchanged: ['p1', 'p2'] });
  });

  it('names a pipe whose source is missing from an unvalidated document', () => {
    const broken = { ...config(base), pipes: { bad: { source: 'nope', sender: 'fusion', disabled: false } } } as AgentConfig;
    expect(() => resolvePipes(broken)).to.throw(/pipe "bad" names unknown source "nope"/);
  });
});
