/**
 * Myers' O((N+M)·D) line diff ("An O(ND) Difference Algorithm and Its
 * Variations", 1986) over line ids, after trimming the common prefix and
 * suffix. Time grows with the number of differing lines D, not with the
 * product of the lengths: a 1 MiB config with a few changes diffs in
 * milliseconds. Memory is O(D²) for the path back, so past MAX_EDITS
 * differing lines the middle is reported as replaced as a whole.
 */

/** Most differing lines diffed exactly (the trace then holds ~MAX_EDITS² ids: 16 MiB at 2,000). */
export const MAX_EDITS = 2000;

const splitLines = (text) => (text === '' ? [] : text.replace(/\n$/, '').split('\n'));

/**
 * Runs of lines turning text `a` into text `b`: [{ op: ' ' | '+' | '-', lines }],
 * consecutive lines of one kind in one run (one object per run, not per line:
 * a large document with few changes is a handful of runs).
 */
export function diffLines(a, b) {
  const x = splitLines(a);
  const y = splitLines(b);
  let start = 0;
  while (start < x.length && start < y.length && x[start] === y[start]) start++;
  let endX = x.length;
  let endY = y.length;
  while (endX > start && endY > start && x[endX - 1] === y[endY - 1]) (endX--, endY--);

  const runs = [];
  const add = (op, lines, from, to) => {
    if (to <= from) return;
    const last = runs[runs.length - 1];
    if (last?.op === op) for (let i = from; i < to; i++) last.lines.push(lines[i]);
    else runs.push({ op, lines: lines.slice(from, to) });
  };
  add(' ', x, 0, start);
  const script = editScript(x, y, start, endX, endY);
  if (script) {
    for (let s = 0; s < script.length; s += 3) add(OPS[script[s]], script[s] === 1 ? y : x, script[s + 1], script[s + 1] + script[s + 2]);
  } else {
    add('-', x, start, endX);
    add('+', y, start, endY);
  }
  add(' ', x, endX, x.length);
  return runs;
}

const OPS = [' ', '+', '-'];

/**
 * The shortest edit script turning x[lo..endX) into y[lo..endY) as a flat
 * list of (kind, first index, count) triples in order (kind 0 unchanged and
 * 2 removed index into x, 1 added into y), or null past MAX_EDITS edits.
 */
function editScript(x, y, lo, endX, endY) {
  const n = endX - lo;
  const m = endY - lo;
  const limit = Math.min(n + m, MAX_EDITS);
  const offset = limit + 1;
  const v = new Int32Array(2 * limit + 3);
  // trace[d] holds v over diagonals -d-1..d+1 as it was before step d.
  const trace = [];
  let found = -1;
  for (let d = 0; d <= limit && found < 0; d++) {
    trace.push(v.slice(offset - d - 1, offset + d + 2));
    for (let k = -d; k <= d; k += 2) {
      let i = k === -d || (k !== d && v[offset + k - 1] < v[offset + k + 1]) ? v[offset + k + 1] : v[offset + k - 1] + 1;
      let j = i - k;
      while (i < n && j < m && x[lo + i] === y[lo + j]) (i++, j++);
      v[offset + k] = i;
      if (i >= n && j >= m) {
        found = d;
        break;
      }
    }
  }
  if (found < 0) return null;
  // Walked back from the end, so the triples come out last first.
  const back = [];
  let i = n;
  let j = m;
  for (let d = found; d >= 0; d--) {
    const before = trace[d];
    const at = (k) => before[k + d + 1];
    const k = i - j;
    const prevK = k === -d || (k !== d && at(k - 1) < at(k + 1)) ? k + 1 : k - 1;
    const prevI = d === 0 ? 0 : at(prevK);
    const prevJ = prevI - prevK;
    const snake = Math.min(i - prevI, j - prevJ);
    if (snake > 0) back.push(0, lo + i - snake, snake);
    i -= snake;
    j -= snake;
    if (d > 0) {
      if (i === prevI) back.push(1, lo + --j, 1);
      else back.push(2, lo + --i, 1);
    }
    i = prevI;
    j = prevJ;
  }
  const script = [];
  for (let s = back.length - 3; s >= 0; s -= 3) script.push(back[s], back[s + 1], back[s + 2]);
  return script;
}
