import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { AgentToFusionFrame, FusionToAgentFrame } from '../../shared/protocol/index.js';
import { generate, outdated, PROTOCOL_DOC, REGENERATE, SCHEMA_DIR } from '../../scripts/protocol-docs.js';

describe('docs/protocol.md and docs/schema are generated from shared/protocol', () => {
  const files = generate();

  it('are current', () => {
    const stale = outdated(files);
    expect(stale, `${stale.join(', ')} not current: run \`${REGENERATE}\` and commit the result`).to.deep.equal([]);
  });

  it('have a table and a JSON Schema for every frame type either side may send', async () => {
    const doc = await readFile(new URL(`../../${PROTOCOL_DOC}`, import.meta.url), 'utf8');
    const types = new Set<string>();
    const collect = (schema: unknown): void => {
      for (const option of (schema as { options: unknown[] }).options) {
        if ((option as { options?: unknown }).options) collect(option);
        else types.add(((option as { shape: { type: { value: string } } }).shape.type.value));
      }
    };
    collect(AgentToFusionFrame);
    collect(FusionToAgentFrame);
    expect(types.size).to.be.greaterThan(10);
    for (const type of types) expect(doc, `frame ${type}`).to.include(`#### \`${type}\``);
    const hello = JSON.parse(files.get(`${SCHEMA_DIR}/HelloFrame.json`)!) as { required: string[]; properties: Record<string, { description?: string }> };
    expect(hello.required).to.include.members(['type', 'protocol_version', 'agent_id', 'config']);
    expect(hello.properties.agent_id!.description).to.match(/agent id given at the upgrade/);
  });
});
