import { applyDocumentPatch, configSignature, type Operation } from '../../shared/config/index.js';
import type { ConfigFrame } from '../../shared/protocol/index.js';

/** The config a simulated agent runs. */
export interface SimRunning {
  signature: string | null;
  revision: number | null;
  document: Record<string, unknown> | null;
}

/** What to do with a `config` frame. */
export type SimConfigOutcome =
  | { kind: 'apply'; running: SimRunning & { signature: string; document: Record<string, unknown> } }
  | { kind: 'request'; reason: string }
  | { kind: 'fail'; error: string };

/**
 * Rebuilds the target document of a `config` frame the way the real agent
 * does: a patch only against the document it runs, and only when the result
 * reproduces the target signature (else it asks for the full document); a full
 * document only when its signature is the announced one. The simulated agent
 * does not re-validate the schema (Fusion validated the document before
 * storing it), so it costs a signature, not a zod parse.
 */
export function planSimApply(running: SimRunning, frame: ConfigFrame): SimConfigOutcome {
  if (frame.encoding === 'full') {
    const actual = configSignature(frame.document);
    if (actual !== frame.signature) return { kind: 'fail', error: `the document has signature ${actual}, not the announced ${frame.signature}` };
    return { kind: 'apply', running: { signature: frame.signature, revision: frame.revision, document: frame.document } };
  }
  if (running.signature !== frame.base_signature || running.document === null) {
    return { kind: 'request', reason: `patch base ${frame.base_signature} is not the running config (${running.signature ?? 'none'})` };
  }
  const outcome = applyDocumentPatch(running.document, frame.patch as Operation[], frame.signature);
  if (!outcome.ok) return { kind: 'request', reason: outcome.reason.slice(0, 1024) };
  return { kind: 'apply', running: { signature: frame.signature, revision: frame.revision, document: outcome.document } };
}

/**
 * planSimApply shared by a fleet in one process. The outcome is a pure
 * function of the running document (named by its signature: an agent only
 * ever adopts a document whose signature it checked) and of the frame's text,
 * so agents that take the same step (a shared template moves them all from
 * one document to the next) compute it once. Real agents each run on their
 * own machine; doing the same work once per simulated agent would only make
 * the load generator, not Fusion, the bottleneck of a benchmark. Outcomes
 * (and the documents in them) are never mutated. Bounded: when full, it starts over.
 */
export class SimApplyMemo {
  private readonly outcomes = new Map<string, SimConfigOutcome>();

  constructor(private readonly limit = 256) {}

  plan(running: SimRunning, frame: ConfigFrame, text: string): SimConfigOutcome {
    if (running.signature === null) return planSimApply(running, frame);
    const key = `${running.signature}\n${text}`;
    let outcome = this.outcomes.get(key);
    if (outcome === undefined) {
      outcome = planSimApply(running, frame);
      if (this.outcomes.size >= this.limit) this.outcomes.clear();
      this.outcomes.set(key, outcome);
    }
    return outcome;
  }
}
