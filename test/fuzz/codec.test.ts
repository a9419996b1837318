import { expect } from 'chai';
import fc from 'fast-check';
import { AgentToFusionFrame, decodeFrame, FusionToAgentFrame } from '../harness/protocol-imports.js';
import { fuzzParameters, hostileValue } from './fuzz-runs.js';

const frameTypes = ['hello', 'config_status', 'config_request', 'command_ack', 'command_result', 'config_report', 'status', 'welcome', 'config', 'command', 'error'];

describe('fuzz: frame codec', () => {
  const decodeNeverThrows = (data: string | Buffer): void => {
    for (const schema of [AgentToFusionFrame, FusionToAgentFrame]) {
      const result = decodeFrame(schema, data, 64 * 1024);
      if (result.ok) expect(result.frame).to.have.property('type');
      else expect(result.code).to.be.oneOf(['protocol_error', 'frame_too_large']);
    }
  };

  it('decodes any string or byte sequence without throwing', () => {
    fc.assert(fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' })), decodeNeverThrows), fuzzParameters(300));
    fc.assert(fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => decodeNeverThrows(Buffer.from(bytes))), fuzzParameters(300));
  });

  it('decodes frames of every type with random fields without throwing', () => {
    const frame = fc.record({ type: fc.constantFrom(...frameTypes) }).chain((base) =>
      fc.dictionary(fc.string({ maxLength: 12 }), hostileValue, { maxKeys: 6 }).map((rest) => ({ ...rest, ...base })),
    );
    fc.assert(fc.property(frame, (value) => decodeNeverThrows(JSON.stringify(value))), fuzzParameters(300));
  });
});
