import { expect } from 'chai';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** Which top folders each party may import from (besides itself and packages). */
const ALLOWED: Record<string, string[]> = {
  shared: [],
  server: ['shared'],
  agent: ['shared'],
  cli: ['shared'],
  ui: [],
};

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sourceFiles(path)));
    else if (/\.(ts|js)$/.test(entry.name)) out.push(path);
  }
  return out;
}

const IMPORT = /(?:^|\n)\s*(?:import|export)[^'"`;]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

describe('layout: one party per top folder', () => {
  for (const [party, allowed] of Object.entries(ALLOWED)) {
    it(`${party}/ imports only ${allowed.length ? allowed.join(', ') + '/ and ' : ''}itself`, async () => {
      const offences: string[] = [];
      for (const file of await sourceFiles(join(ROOT, party))) {
        const text = await readFile(file, 'utf8');
        for (const match of text.matchAll(IMPORT)) {
          const spec = match[1] ?? match[2];
          if (!spec || !spec.startsWith('.')) continue;
          const target = relative(ROOT, resolve(dirname(file), spec)).split(/[\\/]/)[0];
          if (target !== party && !allowed.includes(target ?? '')) offences.push(`${relative(ROOT, file)} → ${spec}`);
        }
      }
      expect(offences).to.deep.equal([]);
    });
  }

  it('shared/ stays transport-free (no ws, express)', async () => {
    const offences: string[] = [];
    for (const file of await sourceFiles(join(ROOT, 'shared'))) {
      const text = await readFile(file, 'utf8');
      if (/from\s*['"](ws|express)['"]/.test(text)) offences.push(relative(ROOT, file));
    }
    expect(offences).to.deep.equal([]);
  });
});
