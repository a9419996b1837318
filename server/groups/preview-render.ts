import type { ConfigIssue } from '../../shared/config/index.js';
import type { PlainObject } from './deep-merge.js';
import type { MemberForRender } from './group-store.js';
import { MemoRenderer } from './render-memo.js';

/** One member's outcome under a template, without its document (a preview needs documents only for the page it lists). */
export interface RenderOutcome {
  member: MemberForRender;
  /** Null when the member's config does not render. */
  signature: string | null;
  errors: ConfigIssue[];
}

interface Remembered {
  /** The member's render inputs (see inputsOf); the outcome holds only while they are the same. */
  inputs: string;
  signature: string | null;
  errors: ConfigIssue[];
}

/** Templates whose outcomes are kept: a few, as an admin pages through one or two previews at a time. */
const MAX_TEMPLATES = 4;
/** Rendering yields to the event loop after this long, so sockets keep being served during a large preview. */
const SLICE_MS = 10;
/** How many members are rendered between two looks at the clock. */
const CHECK_EVERY = 32;

/**
 * Renders previews of group template changes in slices, remembering each
 * member's outcome (signature or problems, never the document) per template.
 *
 * A member's rendered config is a pure function of the template and of its
 * inputs (agent id, host name, variables, override), so an outcome is reused
 * only when the template (by signature, of its canonical parsed form) and the
 * member's inputs are the same: paging through a preview, changing its filter,
 * or looking at a pending change again renders nobody twice. Only signatures
 * and problems are kept (a few hundred bytes per member); the page's documents
 * are rendered again on demand (see {@link PreviewRenderer.documents}).
 */
export class PreviewRenderer {
  /** Template key (group and template signature) → agent id → outcome; oldest template first. */
  private readonly byTemplate = new Map<string, Map<string, Remembered>>();

  async outcomes(group: string, template: PlainObject, signature: string, members: readonly MemberForRender[]): Promise<RenderOutcome[]> {
    const key = `${group}\u0000${signature}`;
    const known = this.byTemplate.get(key) ?? new Map<string, Remembered>();
    this.byTemplate.delete(key);
    this.byTemplate.set(key, known);
    while (this.byTemplate.size > MAX_TEMPLATES) this.byTemplate.delete(this.byTemplate.keys().next().value!);

    const renderer = new MemoRenderer(template);
    const outcomes: RenderOutcome[] = new Array(members.length);
    let sliceStart = performance.now();
    for (let i = 0; i < members.length; i++) {
      const member = members[i]!;
      const inputs = inputsOf(member);
      let remembered = known.get(member.agent_id);
      if (remembered?.inputs !== inputs) {
        const result = renderer.render({ agentId: member.agent_id, hostname: member.hostname, variables: member.variables, override: member.override });
        remembered = result.ok ? { inputs, signature: result.signature, errors: [] } : { inputs, signature: null, errors: result.errors };
        known.set(member.agent_id, remembered);
      }
      outcomes[i] = { member, signature: remembered.signature, errors: remembered.errors };
      if (i % CHECK_EVERY === CHECK_EVERY - 1 && performance.now() - sliceStart > SLICE_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        sliceStart = performance.now();
      }
    }
    // Members that left the group are forgotten, so a template's map never outgrows its group.
    if (known.size > members.length) {
      const present = new Set(members.map((m) => m.agent_id));
      for (const id of known.keys()) if (!present.has(id)) known.delete(id);
    }
    return outcomes;
  }

  /** The documents of a few members (a preview's page): rendered again, which gives exactly the remembered signatures. */
  documents(template: PlainObject, members: readonly MemberForRender[]): Map<string, PlainObject> {
    const renderer = new MemoRenderer(template);
    const documents = new Map<string, PlainObject>();
    for (const m of members) {
      const result = renderer.render({ agentId: m.agent_id, hostname: m.hostname, variables: m.variables, override: m.override });
      if (result.ok) documents.set(m.agent_id, result.document);
    }
    return documents;
  }
}

/** Everything besides the template that a member's render reads. */
function inputsOf(m: MemberForRender): string {
  return JSON.stringify([m.hostname, m.variables, m.override]);
}
