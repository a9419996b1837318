import { expect } from 'chai';
import fc from 'fast-check';

type Run = { op: ' ' | '+' | '-'; lines: string[] };
// A browser module without type declarations: imported by a computed name, typed here.
const { diffLines, MAX_EDITS } = (await import('../../ui/js/line-diff.js' as string)) as { diffLines(a: string, b: string): Run[]; MAX_EDITS: number };

/** Length of a longest common subsequence, by the quadratic table (small inputs only). */
function lcs(a: string[], b: string[]): number {
  const row = new Array<number>(b.length + 1).fill(0);
  for (let i = a.length - 1; i >= 0; i--) {
    let diagonal = 0;
    for (let j = b.length - 1; j >= 0; j--) {
      const down = row[j]!;
      row[j] = a[i] === b[j] ? diagonal + 1 : Math.max(row[j]!, row[j + 1]!);
      diagonal = down;
    }
  }
  return row[0]!;
}

const text = (lines: string[]): string => lines.join('\n');
/** The lines of a text as the diff sees them: a final newline ends the last line, it does not start another. */
const linesOf = (t: string): string[] => (t === '' ? [] : t.replace(/\n$/, '').split('\n'));

describe('web UI line diff (ui/js/line-diff.js)', () => {
  it('turns a into b with the fewest changed lines, for any two texts', () => {
    const lines = fc.array(fc.constantFrom('a', 'b', 'c', 'd', ''), { maxLength: 30 });
    fc.assert(
      fc.property(lines, lines, (rawA, rawB) => {
        const a = linesOf(text(rawA));
        const b = linesOf(text(rawB));
        const runs = diffLines(text(rawA), text(rawB));
        const kept = runs.filter((r) => r.op !== '+').flatMap((r) => r.lines);
        const made = runs.filter((r) => r.op !== '-').flatMap((r) => r.lines);
        expect(kept).to.deep.equal(a);
        expect(made).to.deep.equal(b);
        const changed = runs.filter((r) => r.op !== ' ').reduce((n, r) => n + r.lines.length, 0);
        expect(changed).to.equal(a.length + b.length - 2 * lcs(a, b));
      }),
      { numRuns: 500 },
    );
  });

  it('treats a last line without its newline as the same line, and identical texts as one unchanged run', () => {
    expect(diffLines('x\ny\n', 'x\ny')).to.deep.equal([{ op: ' ', lines: ['x', 'y'] }]);
    expect(diffLines('', 'a')).to.deep.equal([{ op: '+', lines: ['a'] }]);
  });

  it('reports texts that differ in more than MAX_EDITS lines as one replaced the other, keeping the common ends', () => {
    const a = ['head', ...Array.from({ length: MAX_EDITS + 10 }, (_, i) => `a${i}`), 'tail'];
    const b = ['head', ...Array.from({ length: MAX_EDITS + 10 }, (_, i) => `b${i}`), 'tail'];
    const runs = diffLines(text(a), text(b));
    expect(runs.map((r) => [r.op, r.lines.length])).to.deep.equal([
      [' ', 1],
      ['-', MAX_EDITS + 10],
      ['+', MAX_EDITS + 10],
      [' ', 1],
    ]);
  });
});
