/**
 * A worker of the parse pool (parse-pool.ts): parses config texts, for an
 * agent config validates it and computes its signature too, and renders a
 * group template for a slice of its members, off Fusion's event loop.
 * Answers `{ id, result }` for every `{ id, task }` it gets.
 */
import { parentPort } from 'node:worker_threads';
import { configSignature, parseDocumentText, validateConfig } from '../../shared/config/index.js';
import { MemoRenderer } from '../groups/render-memo.js';
import type { ParseResult, ParseTask, RenderedText } from './parse-task.js';

function run(task: ParseTask): ParseResult {
  if (task.kind === 'render') {
    const renderer = new MemoRenderer(task.template);
    const rendered = task.members.map((member): RenderedText => {
      const result = renderer.render(member);
      // A string crosses the thread boundary far faster than the object it encodes.
      return result.ok ? { text: JSON.stringify(result.document), signature: result.signature } : { errors: result.errors };
    });
    return { ok: true, value: undefined, rendered };
  }
  const parsed = parseDocumentText(task.text, task.format);
  if (!parsed.ok || task.kind === 'document') return parsed;
  const checked = validateConfig(parsed.value, task.agentId === undefined ? {} : { agentId: task.agentId });
  if (!checked.ok) return { ok: false, errors: checked.errors, stage: 'validate' };
  return { ok: true, value: undefined, documentText: JSON.stringify(checked.config), signature: configSignature(checked.config) };
}

parentPort!.on('message', (message: { id: number; task: ParseTask }) => {
  let result: ParseResult;
  try {
    result = run(message.task);
  } catch (err) {
    result = { ok: false, errors: [{ path: '(root)', message: `could not parse: ${(err as Error).message}` }] };
  }
  parentPort!.postMessage({ id: message.id, result });
});
