/**
 * YAML in the browser, with the same `yaml` package Fusion uses (served at
 * /ui/vendor/yaml): documents rendered with sorted keys so two configs diff
 * line by line, syntax checks while typing, and the line an issue path
 * (`pipes.research.sender`) points at.
 */
import { LineCounter, parseDocument, stringify, isSeq } from '../vendor/yaml/index.js';

/** A document as YAML with keys sorted at every level. */
export function toYaml(value) {
  if (value === null || value === undefined) return '';
  return stringify(value, { sortMapEntries: true, lineWidth: 0 });
}

/** Syntax problems of a YAML text, each with its 1-based line; [] when it parses. */
export function syntaxErrors(text) {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  return doc.errors.map((e) => ({ line: lineCounter.linePos(e.pos[0]).line, message: e.message.split('\n')[0] }));
}

/**
 * The 1-based line each issue path points at in `text` (the deepest part of
 * the path that exists), or null when it cannot be found (e.g. `(root)`).
 */
export function issueLines(text, issues) {
  const lineCounter = new LineCounter();
  let doc;
  try {
    doc = parseDocument(text, { lineCounter });
  } catch {
    return issues.map(() => null);
  }
  return issues.map((issue) => {
    if (!issue.path || issue.path === '(root)') return null;
    let node = doc.contents;
    let line = null;
    for (const part of issue.path.split('.')) {
      if (!node || typeof node !== 'object') break;
      const key = isSeq(node) && /^\d+$/.test(part) ? Number(part) : part;
      const pair = isSeq(node) ? null : node.items?.find((p) => String(p.key?.value ?? p.key) === part);
      const next = isSeq(node) ? node.items?.[key] : pair?.value;
      const anchor = pair?.key ?? next;
      if (!anchor?.range) break;
      line = lineCounter.linePos(anchor.range[0]).line;
      node = next;
    }
    return line;
  });
}
