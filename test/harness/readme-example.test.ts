import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const ROOT = new URL('../../', import.meta.url);

describe('docs/harness.md "Testing with the harness"', () => {
  it('shows test/harness/example.test.ts as it is', async () => {
    const readme = await readFile(fileURLToPath(new URL('docs/harness.md', ROOT)), 'utf8');
    const section = readme;
    const shown = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
    const file = await readFile(fileURLToPath(new URL('test/harness/example.test.ts', ROOT)), 'utf8');
    // The file's first line says to keep the two identical; the doc leaves it out.
    expect(shown).to.equal(file.slice(file.indexOf('\n') + 1));
  });
});
