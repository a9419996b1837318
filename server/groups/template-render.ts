import { configSignature, validateConfig, type ConfigIssue } from '../../shared/config/index.js';
import { deepMerge, isPlainObject, setOwn, type PlainObject } from './deep-merge.js';

/** Names an admin may give a per-agent variable. */
export const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/**
 * Variables Fusion fills in for every agent. `agent_id` cannot be set by an
 * admin; `hostname` is the host name the agent reported, unless the admin set
 * a `hostname` variable for it (an explicit value wins).
 */
export const BUILTIN_VARIABLES: readonly string[] = ['agent_id', 'hostname'];

/**
 * `${name}` is a reference; `$${name}` is the literal text `${name}`.
 * `${secret:name}` is a secret reference, kept as it is in the rendered
 * document (the agent resolves it; see shared/config/secret-refs).
 */
const REFERENCE = /\$(\$?)\{([^{}]*)\}/g;

/** What a template needs from one agent to render its config. */
export interface MemberInput {
  agentId: string;
  /** Host name the agent reported; null before its first connection. */
  hostname: string | null;
  variables: Record<string, string>;
  override: PlainObject | null;
}

export type RenderResult = { ok: true; document: PlainObject; signature: string } | { ok: false; errors: ConfigIssue[] };

/**
 * One agent's config from a group template: variables substituted in string
 * values (after YAML parsing, so a value can never inject YAML structure), the
 * agent's override deep-merged on top, then full validation. The document is
 * the normalised config (defaults filled), and the signature is of it, so it
 * equals what the agent computes after applying it.
 */
export function renderTemplate(template: PlainObject, member: MemberInput): RenderResult {
  const merged = mergeMember(template, memberVariables(member), member.override);
  if (!merged.ok) return merged;
  const checked = validateConfig(merged.value, { agentId: member.agentId });
  if (!checked.ok) return checked;
  const document = checked.config as PlainObject;
  return { ok: true, document, signature: configSignature(document) };
}

/**
 * The variables one agent's rendering sees: its own, the host name it
 * reported unless it has a `hostname` variable, and `agent_id` (always its id).
 */
export function memberVariables(member: MemberInput): Map<string, string> {
  const variables = new Map<string, string>(Object.entries(member.variables));
  // The reported name is the agent's word: one holding `${` could smuggle a secret reference
  // (`${secret:name}`) into its own document and be sent that secret's value, so it is not used.
  if (member.hostname && !member.hostname.includes('${') && !variables.has('hostname')) variables.set('hostname', member.hostname);
  variables.set('agent_id', member.agentId);
  return variables;
}

/**
 * The document to validate for one agent, before validation: variables
 * substituted in string values, then the override deep-merged on top. A pure
 * function of the values of the variables the template refers to (see
 * {@link templateVariables}) and of the override.
 */
export function mergeMember(
  template: PlainObject,
  variables: ReadonlyMap<string, string>,
  override: PlainObject | null,
): { ok: true; value: PlainObject } | { ok: false; errors: ConfigIssue[] } {
  const errors: ConfigIssue[] = [];
  const substituted = substitute(template, (name) => variables.get(name), [], errors);
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, value: override ? deepMerge(substituted as PlainObject, override) : (substituted as PlainObject) };
}

/**
 * Checks a template on its own, before any agent is known: it must be a
 * mapping, every reference well formed, and the document valid once each
 * variable is replaced by a placeholder. Catches unknown drivers or broken
 * references in a group that has no members yet.
 */
export function checkTemplate(template: unknown): ConfigIssue[] {
  if (!isPlainObject(template)) return [{ path: '(root)', message: 'a group template must be a mapping' }];
  const errors: ConfigIssue[] = [];
  const probe = substitute(template, (name) => `x-${name}`, [], errors);
  if (errors.length > 0) return errors;
  const checked = validateConfig(probe);
  return checked.ok ? [] : checked.errors;
}

/** Names of the variables a template refers to (built-ins included), sorted. */
export function templateVariables(template: unknown): string[] {
  const names = new Set<string>();
  visitStrings(template, (text) => {
    for (const match of text.matchAll(REFERENCE)) if (match[1] === '' && VARIABLE_NAME.test(match[2]!)) names.add(match[2]!);
  });
  return [...names].sort();
}

/** The value of a variable, or undefined when the agent has none of that name. */
type Lookup = (name: string) => string | undefined;

/**
 * Substitutes every string under `value`. `path` is the key path of `value`,
 * pushed and popped in place as the walk descends (joined only to name an
 * error), so a walk allocates nothing for paths.
 */
function substitute(value: unknown, lookup: Lookup, path: string[], errors: ConfigIssue[]): unknown {
  if (typeof value === 'string') return substituteString(value, lookup, path, errors);
  if (Array.isArray(value)) {
    return value.map((item, i) => {
      path.push(String(i));
      const result = substitute(item, lookup, path, errors);
      path.pop();
      return result;
    });
  }
  if (isPlainObject(value)) {
    const result: PlainObject = {};
    for (const key in value) {
      if (!Object.hasOwn(value, key)) continue;
      path.push(key);
      setOwn(result, key, substitute(value[key], lookup, path, errors));
      path.pop();
    }
    return result;
  }
  return value;
}

function substituteString(text: string, lookup: Lookup, path: readonly string[], errors: ConfigIssue[]): string {
  if (!text.includes('${')) return text;
  return text.replace(REFERENCE, (whole, escape: string, name: string) => {
    if (escape) return whole.slice(1);
    if (name.startsWith('secret:')) return whole;
    const where = path.length ? path.join('.') : '(root)';
    if (!VARIABLE_NAME.test(name)) {
      errors.push({ path: where, message: `malformed variable reference ${whole} (write $${whole} for the literal text)` });
      return whole;
    }
    const replacement = lookup(name);
    if (replacement === undefined) {
      const hint = name === 'hostname' ? ' (the agent has not reported a usable host name: none yet, or one holding "${"; set a hostname variable for it)' : '';
      errors.push({ path: where, message: `unknown variable \${${name}}${hint}` });
      return whole;
    }
    return replacement;
  });
}

function visitStrings(value: unknown, visit: (text: string) => void): void {
  if (typeof value === 'string') visit(value);
  else if (Array.isArray(value)) for (const item of value) visitStrings(item, visit);
  else if (isPlainObject(value)) for (const item of Object.values(value)) visitStrings(item, visit);
}
