import type { ConfigIssue } from '../../shared/config/index.js';

/** What the parse pool is asked: parse a text, or parse and validate an agent config. */
export type ParseTask =
  | { kind: 'document'; text: string; format: 'yaml' | 'json' }
  | { kind: 'agent-config'; text: string; format: 'yaml' | 'json'; agentId?: string | undefined };

/**
 * A parse answer. `document` tasks carry `value`; `agent-config` tasks carry
 * the normalised document as JSON text and its signature. `stage` says
 * whether a refusal came from validation (else from parsing or a limit).
 */
export type ParseResult =
  | { ok: true; value: unknown; documentText?: string; signature?: string }
  | { ok: false; errors: ConfigIssue[]; stage?: 'validate' };
