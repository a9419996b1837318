/**
 * Line diff (longest common subsequence) for two config texts, rendered as a
 * unified view. Configs are small (a few hundred lines), so the O(n·m) table is cheap.
 */
import { h } from './dom.js';

/** [{ op: ' ' | '+' | '-', text }] turning `a` into `b`. */
export function diffLines(a, b) {
  const x = a === '' ? [] : a.replace(/\n$/, '').split('\n');
  const y = b === '' ? [] : b.replace(/\n$/, '').split('\n');
  const n = x.length;
  const m = y.length;
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) {
      out.push({ op: ' ', text: x[i] });
      i++;
      j++;
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) out.push({ op: '-', text: x[i++] });
    else out.push({ op: '+', text: y[j++] });
  }
  while (i < n) out.push({ op: '-', text: x[i++] });
  while (j < m) out.push({ op: '+', text: y[j++] });
  return out;
}

/** A rendered diff; identical texts say so instead. */
export function diffView(a, b, { from = 'before', to = 'after' } = {}) {
  const lines = diffLines(a, b);
  const changed = lines.filter((l) => l.op !== ' ').length;
  if (!changed) return h('p', { class: 'diff-same' }, `No difference between ${from} and ${to}.`);
  return h(
    'div',
    { class: 'diff', 'data-diff': '' },
    h('div', { class: 'diff-legend' }, h('span', { class: 'diff-del' }, `− ${from}`), h('span', { class: 'diff-add' }, `+ ${to}`), h('span', { class: 'muted' }, `${changed} line(s) differ`)),
    h('pre', { class: 'code' }, lines.map((l) => h('span', { class: l.op === '+' ? 'diff-add' : l.op === '-' ? 'diff-del' : 'diff-ctx' }, `${l.op} ${l.text}\n`))),
  );
}
