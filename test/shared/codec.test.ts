import { expect } from 'chai';
import {
  AgentToFusionFrame,
  ErrorCode,
  FusionToAgentFrame,
  CloseCode,
  closeCodeFor,
  decodeFrame,
  encodeFrame,
} from '../../shared/protocol/index.js';
import { applyDocumentPatch, configSignature, diffDocuments } from '../../shared/config/index.js';

describe('shared/protocol codec', () => {
  const hello = {
    type: 'hello',
    protocol_version: 1,
    agent_id: 'node-1',
    agent_version: '1.0.0',
    hostname: 'h',
    capabilities: [],
    config: { signature: null, revision: null, source: 'none' },
  };

  it('decodes a valid frame into its typed shape', () => {
    const result = decodeFrame(AgentToFusionFrame, encodeFrame(hello as never));
    expect(result.ok).to.equal(true);
    if (result.ok) expect(result.frame.type).to.equal('hello');
  });

  it('refuses non-JSON, unknown types and schema violations with protocol_error', () => {
    for (const raw of ['{not json', '{"type":"nope"}', JSON.stringify({ ...hello, agent_id: '../etc' })]) {
      const result = decodeFrame(AgentToFusionFrame, raw);
      expect(result.ok).to.equal(false);
      if (!result.ok) expect(result.code).to.equal(ErrorCode.ProtocolError);
    }
  });

  it('refuses a frame over the size limit before parsing it', () => {
    const result = decodeFrame(AgentToFusionFrame, JSON.stringify({ ...hello, hostname: 'x'.repeat(2000) }), 1000);
    expect(result.ok).to.equal(false);
    if (!result.ok) expect(result.code).to.equal(ErrorCode.FrameTooLarge);
  });

  it('tells full and patch config frames apart', () => {
    const sig = configSignature({});
    const patch = decodeFrame(FusionToAgentFrame, JSON.stringify({ type: 'config', encoding: 'patch', revision: 2, signature: sig, base_signature: sig, patch: [] }));
    expect(patch.ok && patch.frame.type === 'config' && patch.frame.encoding).to.equal('patch');
    const missing = decodeFrame(FusionToAgentFrame, JSON.stringify({ type: 'config', encoding: 'patch', revision: 2, signature: sig }));
    expect(missing.ok).to.equal(false);
  });

  it('maps every error code to a close code in the private range', () => {
    for (const code of Object.values(ErrorCode)) expect(closeCodeFor(code)).to.be.within(4000, 4999);
    expect(closeCodeFor(ErrorCode.ProtocolError)).to.equal(CloseCode.ProtocolError);
  });
});

describe('shared/config patch', () => {
  it('round-trips a diff and verifies the signature', () => {
    const base = { pipes: { a: { x: 1 } }, list: [1, 2, 3] };
    const target = { pipes: { a: { x: 2 }, b: { y: 1 } }, list: [1, 3] };
    const out = applyDocumentPatch(base, diffDocuments(base, target), configSignature(target));
    expect(out.ok).to.equal(true);
    if (out.ok) expect(out.document).to.deep.equal(target);
    expect(base.pipes.a.x).to.equal(1);
  });

  it('reports a signature mismatch and a patch that does not apply', () => {
    const base = { a: 1 };
    const wrong = applyDocumentPatch(base, [{ op: 'replace', path: '/a', value: 2 }], configSignature({ a: 3 }));
    expect(wrong.ok).to.equal(false);
    if (!wrong.ok) expect(wrong.reason).to.match(/signature mismatch/);
    const broken = applyDocumentPatch(base, [{ op: 'remove', path: '/nope' }], configSignature({}));
    expect(broken.ok).to.equal(false);
    if (!broken.ok) expect(broken.reason).to.match(/^patch does not apply/);
  });

  it('leaves the base untouched when a later operation fails, and refuses a prototype path', () => {
    const base = { a: { x: 1 }, b: 2 };
    const partial = applyDocumentPatch(
      base,
      [
        { op: 'replace', path: '/a/x', value: 9 },
        { op: 'test', path: '/b', value: 3 },
      ],
      configSignature({ a: { x: 9 }, b: 2 }),
    );
    expect(partial.ok).to.equal(false);
    expect(base).to.deep.equal({ a: { x: 1 }, b: 2 });
    const polluting = applyDocumentPatch(base, [{ op: 'add', path: '/__proto__/polluted', value: 1 }], configSignature(base));
    expect(polluting.ok).to.equal(false);
    expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
  });
});
