import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canonicalJson, CanonicalJsonError, configSignature, parseDocumentText, validateConfig } from '../../shared/config/index.js';

const VECTORS = fileURLToPath(new URL('../../docs/vectors/signatures.json', import.meta.url));
const CHECKER = fileURLToPath(new URL('../../scripts/check-vectors.py', import.meta.url));

interface Vector {
  name: string;
  input: string;
  normalised?: string;
  canonical: string;
  signature: string;
}
const vectors = JSON.parse(await readFile(VECTORS, 'utf8')) as { canonical: Vector[]; documents: Vector[] };

describe('signature test vectors (docs/vectors/signatures.json)', () => {
  for (const v of vectors.canonical) {
    it(`canonical JSON and signature of "${v.name}"`, () => {
      const value: unknown = JSON.parse(v.input);
      expect(canonicalJson(value)).to.equal(v.canonical);
      expect(configSignature(value)).to.equal(v.signature);
    });
  }

  for (const v of vectors.documents) {
    it(`normalisation, canonical JSON and signature of document "${v.name}"`, () => {
      const checked = validateConfig(JSON.parse(v.input));
      expect(checked.ok, JSON.stringify(checked)).to.equal(true);
      if (!checked.ok) return;
      expect(checked.config).to.deep.equal(JSON.parse(v.normalised!));
      expect(canonicalJson(checked.config)).to.equal(v.canonical);
      expect(configSignature(checked.config)).to.equal(v.signature);
    });
  }

  it('covers what an implementation outside JavaScript gets wrong: non-ASCII, floats, UTF-16 key order, escapes, empty containers', () => {
    const names = vectors.canonical.map((v) => v.name);
    expect(names).to.include.members(['non-ascii-paths', 'floats', 'nesting', 'empty-objects-and-arrays', 'escapes', 'key-order-by-code-unit']);
  });
});

describe('canonical JSON refuses what is not I-JSON', () => {
  it('throws on non-finite numbers and lone surrogates, in values and in member names', () => {
    expect(() => canonicalJson({ a: Infinity })).to.throw(CanonicalJsonError);
    expect(() => canonicalJson([NaN])).to.throw(CanonicalJsonError);
    expect(() => canonicalJson({ a: 'x\ud800y' })).to.throw(CanonicalJsonError, /lone surrogate/);
    expect(() => canonicalJson({ ['\udc00']: 1 })).to.throw(CanonicalJsonError);
    expect(canonicalJson({ a: '\ud83d\ude00' })).to.equal('{"a":"😀"}');
  });

  it('refuses such a document at validation with the path to the value, before anything signs it', () => {
    const yaml = parseDocumentText('sources:\n  s:\n    driver: fs\n    uri: /x\n    driver_params: { limit: .inf }\n', 'yaml');
    expect(yaml.ok).to.equal(false);
    if (!yaml.ok) expect(yaml.errors[0]).to.deep.equal({ path: 'sources.s.driver_params.limit', message: 'Infinity is not a finite number' });
    const json = parseDocumentText('{"a": 1e999}', 'json');
    expect(json.ok).to.equal(false);
    const doc = validateConfig({ sources: { s: { driver: 'fs', uri: '/x\udfff' } } });
    expect(doc.ok).to.equal(false);
    if (!doc.ok) expect(doc.errors[0]!.path).to.equal('sources.s.uri');
  });
});

describe('independent checker (scripts/check-vectors.py, Python standard library)', function () {
  this.timeout(20_000);
  const python = spawnSync('python3', ['--version']);
  before(function () {
    if (python.error && !process.env.CI) {
      console.warn('    python3 is missing: the independent vector check is skipped (CI installs python3 and runs it)');
      this.skip();
    }
  });

  it('verifies every vector', () => {
    const run = spawnSync('python3', [CHECKER, VECTORS], { encoding: 'utf8' });
    expect(run.status, run.stdout + run.stderr).to.equal(0);
    const total = vectors.canonical.length + vectors.documents.length;
    expect(run.stdout).to.include(`${total} of ${total} vectors verified`);
  });

  it('fails on a vector whose expected canonical JSON is wrong', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fustor-vectors-'));
    try {
      const broken = structuredClone(vectors);
      // What Python's json.dumps(sort_keys=True) writes for the floats vector: the mistake the vectors exist to catch.
      const floats = broken.canonical.find((v) => v.name === 'floats')!;
      floats.canonical = floats.canonical.replace('1e+21', '1e21');
      await writeFile(join(dir, 'v.json'), JSON.stringify(broken));
      const run = spawnSync('python3', [CHECKER, join(dir, 'v.json')], { encoding: 'utf8' });
      expect(run.status).to.equal(1);
      expect(run.stdout).to.match(/FAIL floats/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
