/**
 * A worker of the parse pool (parse-pool.ts): parses config texts, and for an
 * agent config validates it and computes its signature too, off Fusion's
 * event loop. Answers `{ id, result }` for every `{ id, task }` it gets.
 */
import { parentPort } from 'node:worker_threads';
import { configSignature, parseDocumentText, validateConfig } from '../../shared/config/index.js';
import type { ParseResult, ParseTask } from './parse-task.js';

function run(task: ParseTask): ParseResult {
  const parsed = parseDocumentText(task.text, task.format);
  if (!parsed.ok || task.kind === 'document') return parsed;
  const checked = validateConfig(parsed.value, task.agentId === undefined ? {} : { agentId: task.agentId });
  if (!checked.ok) return { ok: false, errors: checked.errors, stage: 'validate' };
  // A string crosses the thread boundary far faster than the object it encodes.
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
