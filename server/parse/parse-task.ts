import type { ConfigIssue } from '../../shared/config/index.js';

/** One member of a group, as a render task carries it (see MemberInput in server/groups/template-render.ts). */
export interface RenderMemberInput {
  agentId: string;
  hostname: string | null;
  variables: Record<string, string>;
  override: Record<string, unknown> | null;
}

/**
 * What the parse pool is asked: parse a text, parse and validate an agent
 * config, or render a group template for some of its members.
 */
export type ParseTask =
  | { kind: 'document'; text: string; format: 'yaml' | 'json' }
  | { kind: 'agent-config'; text: string; format: 'yaml' | 'json'; agentId?: string | undefined }
  | { kind: 'render'; template: Record<string, unknown>; members: RenderMemberInput[] };

/** One member's rendering: its document as JSON text and its signature, or every problem. */
export type RenderedText = { text: string; signature: string } | { errors: ConfigIssue[] };

/**
 * A parse answer. `document` tasks carry `value`; `agent-config` tasks carry
 * the normalised document as JSON text and its signature; `render` tasks
 * carry `rendered`, one entry per member in order. `stage` says whether a
 * refusal came from validation (else from parsing or a limit).
 */
export type ParseResult =
  | { ok: true; value: unknown; documentText?: string; signature?: string; rendered?: RenderedText[] }
  | { ok: false; errors: ConfigIssue[]; stage?: 'validate' };
