/**
 * A line diff of two config texts rendered as a unified view (the diff
 * itself is line-diff.js: Myers' algorithm). Unchanged runs fold down to a
 * few lines of context, and each run of lines is one element, so a large
 * document with a few changes renders as a handful of nodes.
 */
import { h } from './dom.js';
import { diffLines } from './line-diff.js';

/** Unchanged lines shown before and after each change. */
const CONTEXT = 3;

const CLASS = { '+': 'diff-add', '-': 'diff-del', ' ': 'diff-ctx', fold: 'diff-fold' };

const text = (op, lines) => {
  let out = '';
  for (const line of lines) out += `${op} ${line}\n`;
  return out;
};

/** The parts to show: changed runs whole, unchanged runs cut to CONTEXT lines each side of a change with a fold between. */
function parts(runs) {
  const out = [];
  runs.forEach((run, r) => {
    if (run.op !== ' ') {
      out.push({ op: run.op, text: text(run.op, run.lines) });
      return;
    }
    const head = r > 0 ? CONTEXT : 0;
    const tail = r < runs.length - 1 ? CONTEXT : 0;
    if (run.lines.length <= head + tail + 1) {
      out.push({ op: ' ', text: text(' ', run.lines) });
      return;
    }
    if (head) out.push({ op: ' ', text: text(' ', run.lines.slice(0, head)) });
    out.push({ op: 'fold', text: `⋯ ${run.lines.length - head - tail} unchanged line(s)\n` });
    if (tail) out.push({ op: ' ', text: text(' ', run.lines.slice(run.lines.length - tail)) });
  });
  return out;
}

/** A rendered diff; identical texts say so instead. */
export function diffView(a, b, { from = 'before', to = 'after' } = {}) {
  const runs = diffLines(a, b);
  let changed = 0;
  for (const run of runs) if (run.op !== ' ') changed += run.lines.length;
  if (!changed) return h('p', { class: 'diff-same' }, `No difference between ${from} and ${to}.`);
  return h(
    'div',
    { class: 'diff', 'data-diff': '', 'data-changed': String(changed) },
    h('div', { class: 'diff-legend' }, h('span', { class: 'diff-del' }, `− ${from}`), h('span', { class: 'diff-add' }, `+ ${to}`), h('span', { class: 'muted' }, `${changed} line(s) differ`)),
    h('pre', { class: 'code' }, parts(runs).map((part) => h('span', { class: CLASS[part.op] }, part.text))),
  );
}
