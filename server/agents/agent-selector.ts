import { matchesSelector, parseSelector, SelectorError, type Selector } from '../../shared/selector/index.js';
import { HttpError } from '../http/errors.js';
import type { AgentRecord } from '../store/agent-store.js';

/** Selector keys with this prefix match an agent's self-reported attributes instead of its labels. */
export const ATTRIBUTE_PREFIX = 'attr.';

/**
 * A selector as Fusion applies it to agents. Keys match admin-set labels;
 * `attr.<key>` matches what the agent says about itself, which only a
 * listing may use: anything that changes agents (commands, upgrades, label
 * writes, group rules) selects on labels alone, so an agent cannot put
 * itself into a change by what it reports.
 */
export interface AgentSelector {
  text: string;
  matches(record: Pick<AgentRecord, 'labels' | 'attributes'>): boolean;
}

/** Parses a selector from a request; 400 `bad_selector` naming the problem. */
export function agentSelector(text: string, use: 'listing' | 'targeting'): AgentSelector {
  let parsed: Selector;
  try {
    parsed = parseSelector(text);
  } catch (err) {
    if (err instanceof SelectorError) throw new HttpError(400, 'bad_selector', `invalid selector: ${err.message}`, [{ path: 'selector', message: err.message, position: err.position }]);
    throw err;
  }
  const onAttributes = parsed.requirements.filter((r) => r.key.startsWith(ATTRIBUTE_PREFIX));
  if (use === 'targeting' && onAttributes.length > 0) {
    throw new HttpError(
      400,
      'bad_selector',
      `"${onAttributes[0]!.key}" selects on a self-reported attribute; changes select agents by their labels only`,
    );
  }
  const labelPart: Selector = { text: '', requirements: parsed.requirements.filter((r) => !r.key.startsWith(ATTRIBUTE_PREFIX)) };
  const attributePart: Selector = {
    text: '',
    requirements: onAttributes.map((r) => ({ ...r, key: r.key.slice(ATTRIBUTE_PREFIX.length) })),
  };
  return {
    text: parsed.text,
    matches: (record) => matchesSelector(labelPart, record.labels) && matchesSelector(attributePart, record.attributes),
  };
}
