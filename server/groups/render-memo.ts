import { configSignature, validateConfig, type ConfigCheck, type ConfigIssue } from '../../shared/config/index.js';
import type { PlainObject } from './deep-merge.js';
import { memberVariables, mergeMember, renderTemplate, templateVariables, type MemberInput, type RenderResult } from './template-render.js';

/** One distinct pre-validation document, checked once. */
interface Outcome {
  merged: ReturnType<typeof mergeMember>;
  /** validateConfig of the merged document without an agent id (undefined when substitution failed). */
  checked?: ConfigCheck;
  signature?: string;
}

/**
 * Renders one template for many members, validating and signing each distinct
 * document once. Before validation a member's document is a pure function of
 * the values of the variables the template refers to and of its override
 * (see mergeMember), so members that agree on those share one outcome; a
 * template that refers to `${agent_id}` gives every member its own document
 * and is rendered member by member without the memo.
 *
 * The result for each member is exactly what {@link renderTemplate} returns:
 * validation differs by agent only in the check that a document's `agent_id`
 * names its own agent, so a shared outcome is used as is only when it is
 * valid and names no other agent; otherwise the member's document is
 * validated again with its agent id, giving the very same issues. Members
 * sharing an outcome share the (never mutated) document object.
 */
export class MemoRenderer {
  private readonly names: string[];
  private readonly perAgent: boolean;
  private readonly memo = new Map<string, Outcome>();

  constructor(private readonly template: PlainObject) {
    this.names = templateVariables(template);
    this.perAgent = this.names.includes('agent_id');
  }

  render(member: MemberInput): RenderResult {
    if (this.perAgent) return renderTemplate(this.template, member);
    const key = this.key(member);
    if (key === undefined) return renderTemplate(this.template, member);
    let outcome = this.memo.get(key);
    if (!outcome) {
      outcome = this.evaluate(memberVariables(member), member.override);
      this.memo.set(key, outcome);
    }
    const { merged, checked, signature } = outcome;
    if (!merged.ok) return { ok: false, errors: copyIssues(merged.errors) };
    if (checked?.ok && signature !== undefined) {
      const named = (checked.config as { agent_id?: unknown }).agent_id;
      if (named === undefined || named === member.agentId) return { ok: true, document: checked.config as PlainObject, signature };
    }
    const own = validateConfig(merged.value, { agentId: member.agentId });
    if (!own.ok) return own;
    const document = own.config as PlainObject;
    return { ok: true, document, signature: configSignature(document) };
  }

  /**
   * Identifies the member's pre-validation document: the values of the
   * variables the template refers to, as {@link memberVariables} gives them
   * (read without building its map), and the override. Undefined when a
   * referenced value is not a string (no memo then).
   */
  private key(member: MemberInput): string | undefined {
    const values: Array<string | null> = [];
    for (const name of this.names) {
      let value: unknown;
      if (Object.hasOwn(member.variables, name)) value = member.variables[name];
      else if (name === 'hostname' && member.hostname) value = member.hostname;
      if (value === undefined) values.push(null);
      else if (typeof value === 'string') values.push(value);
      else return undefined;
    }
    // An array of strings and nulls never encodes as `[[`, so the two forms cannot meet.
    return member.override === null ? JSON.stringify(values) : JSON.stringify([values, member.override]);
  }

  private evaluate(variables: ReadonlyMap<string, string>, override: PlainObject | null): Outcome {
    const merged = mergeMember(this.template, variables, override);
    if (!merged.ok) return { merged };
    const checked = validateConfig(merged.value);
    return checked.ok ? { merged, checked, signature: configSignature(checked.config) } : { merged, checked };
  }
}

function copyIssues(errors: readonly ConfigIssue[]): ConfigIssue[] {
  return errors.map((e) => ({ ...e }));
}
