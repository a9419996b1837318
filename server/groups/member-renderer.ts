import { configSignature, parseDocumentText, type ConfigIssue } from '../../shared/config/index.js';
import { Slicer } from '../loop/slicer.js';
import { HttpError } from '../http/errors.js';
import { isPlainObject, type PlainObject } from './deep-merge.js';
import type { GroupStore, MemberForRender } from './group-store.js';
import { MemoRenderer } from './render-memo.js';
import { checkTemplate, type MemberInput } from './template-render.js';
import { parsePool } from '../parse/parse-pool.js';

/** A member whose config rendered: the document and signature to store for it. */
export interface RenderedMember {
  member: MemberForRender;
  document: PlainObject;
  signature: string;
}

/** A member whose config does not render, with every problem. */
export interface MemberFailure {
  agent_id: string;
  errors: ConfigIssue[];
}

/** At most this many broken members are listed in a 400. */
const MAX_LISTED_FAILURES = 1000;

/**
 * Parses and checks a template's YAML. Returns the parsed value and its
 * signature (of the canonical parsed form, so a comment is no change); throws
 * 400 `invalid_template` listing every problem.
 */
export function parseTemplate(text: string, preparsed?: { value: unknown }): { template: PlainObject; signature: string } {
  const parsed = preparsed ? { ok: true as const, value: preparsed.value } : parseDocumentText(text, 'yaml');
  if (!parsed.ok) throw invalidTemplate(parsed.errors);
  const errors = checkTemplate(parsed.value);
  if (errors.length > 0) throw invalidTemplate(errors);
  const template = parsed.value as PlainObject;
  return { template, signature: configSignature(template) };
}

/** Members past which a render goes to the parse pool's worker, and how many each task carries. */
export const OFF_LOOP_MEMBERS = 500;

/**
 * Renders every member against one parsed template (each distinct document
 * validated once, see MemoRenderer). Rendering never touches the database:
 * the caller reads the members once (one query) and stores the results once
 * (one transaction).
 *
 * Ten thousand members take seconds of CPU and hundreds of megabytes of
 * short-lived objects (validation, canonical JSON). From `offLoopAt` members
 * on, slices of OFF_LOOP_MEMBERS are rendered on the parse pool's worker
 * thread, one after the other, and only each document's JSON text comes back
 * to be parsed here; a slice the pool refuses (busy, stopping) is rendered
 * here instead. Either way the event loop gets a turn every few milliseconds.
 */
export async function renderMembers(
  template: PlainObject,
  members: readonly MemberForRender[],
  hostnameOf: (member: MemberForRender) => string | null = (m) => m.hostname,
  offLoopAt = OFF_LOOP_MEMBERS,
): Promise<{ rendered: RenderedMember[]; failures: MemberFailure[] }> {
  const rendered: RenderedMember[] = [];
  const failures: MemberFailure[] = [];
  const slicer = new Slicer();
  const input = (member: MemberForRender): MemberInput => ({
    agentId: member.agent_id,
    hostname: hostnameOf(member),
    variables: member.variables,
    override: member.override,
  });
  let renderer: MemoRenderer | undefined;
  const inPlace = async (slice: readonly MemberForRender[]): Promise<void> => {
    renderer ??= new MemoRenderer(template);
    for (const member of slice) {
      await slicer.turn();
      const result = renderer.render(input(member));
      if (result.ok) rendered.push({ member, document: result.document, signature: result.signature });
      else failures.push({ agent_id: member.agent_id, errors: result.errors });
    }
  };
  if (members.length < offLoopAt) {
    await inPlace(members);
    return { rendered, failures };
  }
  for (let start = 0; start < members.length; start += OFF_LOOP_MEMBERS) {
    const slice = members.slice(start, start + OFF_LOOP_MEMBERS);
    const answer = await parsePool.run({ kind: 'render', template, members: slice.map(input) }).catch(() => undefined);
    if (!answer?.ok || answer.rendered?.length !== slice.length) {
      await inPlace(slice);
      continue;
    }
    for (const [i, member] of slice.entries()) {
      await slicer.turn();
      const result = answer.rendered[i]!;
      if ('errors' in result) failures.push({ agent_id: member.agent_id, errors: result.errors });
      else rendered.push({ member, document: JSON.parse(result.text) as PlainObject, signature: result.signature });
    }
  }
  return { rendered, failures };
}

/** 400 `invalid_group_config`: the group's template does not render for these members; nothing was stored. */
export function invalidGroupConfig(group: string, failures: MemberFailure[]): HttpError {
  const named = failures
    .slice(0, 5)
    .map((f) => `${f.agent_id} (${f.errors.slice(0, 2).map((e) => `${e.path}: ${e.message}`).join('; ')})`)
    .join(', ');
  const more = failures.length > 5 ? ` and ${failures.length - 5} more` : '';
  return new HttpError(
    400,
    'invalid_group_config',
    `the config of group "${group}" does not render for ${failures.length} member(s): ${named}${more}; nothing was stored`,
    failures.slice(0, MAX_LISTED_FAILURES),
  );
}

export function invalidTemplate(errors: ConfigIssue[]): HttpError {
  return new HttpError(400, 'invalid_template', `template rejected: ${errors.length} problem(s)`, errors);
}

/**
 * Parsed templates by group revision. Revisions never change once stored, so
 * a cached value stays right; the cache only saves re-parsing YAML when members
 * connect or a batch starts. Cached values are never mutated (rendering copies).
 *
 * One exception: a group deleted and created again under the same name starts
 * at revision 1 again. The process that deletes it forgets its entries, and
 * with replicas the others hear of the delete on the bus (`group_deleted`).
 */
export class TemplateCache {
  private readonly parsed = new Map<string, PlainObject>();

  constructor(
    private readonly store: GroupStore,
    private readonly limit = 256,
  ) {}

  /** The parsed template of a stored revision, or undefined when there is no such revision. */
  async get(group: string, revision: number): Promise<PlainObject | undefined> {
    const key = `${group}@${revision}`;
    const hit = this.parsed.get(key);
    if (hit) return hit;
    const stored = await this.store.revision(group, revision);
    if (!stored) return undefined;
    const parsed = parseDocumentText(stored.template, 'yaml');
    if (!parsed.ok || !isPlainObject(parsed.value)) return undefined;
    this.put(group, revision, parsed.value);
    return parsed.value;
  }

  put(group: string, revision: number, template: PlainObject): void {
    const key = `${group}@${revision}`;
    this.parsed.delete(key);
    this.parsed.set(key, template);
    if (this.parsed.size > this.limit) this.parsed.delete(this.parsed.keys().next().value!);
  }

  /** Forgets a deleted group's templates (a new group of the same name starts at revision 1 again). */
  forget(group: string): void {
    for (const key of [...this.parsed.keys()]) if (key.startsWith(`${group}@`)) this.parsed.delete(key);
  }
}
