/**
 * What a change would do, before it is saved: the counts Fusion answers for
 * every affected agent (changed, unchanged, invalid, offline) and the agents
 * page by page, each with its rollout batch and an expandable diff against
 * what it runs now. `load(offset)` fetches one page of a dry run.
 */
import { badge, h, replace, table } from '../dom.js';

const PAGE = 50;

/** A unified diff (from the server) as coloured lines. */
export function unifiedDiff(text) {
  const lines = String(text ?? '').split('\n').filter((l) => !l.startsWith('===') && !l.startsWith('Index:'));
  return h(
    'pre',
    { class: 'code diff', 'data-agent-diff': '' },
    lines.map((l) => h('span', { class: l.startsWith('+') && !l.startsWith('+++') ? 'diff-add' : l.startsWith('-') && !l.startsWith('---') ? 'diff-del' : 'diff-ctx' }, `${l}\n`)),
  );
}

function countsLine(c) {
  return h(
    'p',
    { class: 'preview-counts', 'data-preview-counts': '' },
    badge(`${c.changed} changed`, c.changed ? 'info' : 'muted'),
    ' ',
    badge(`${c.unchanged} unchanged`, 'muted'),
    ' ',
    badge(`${c.invalid} invalid`, c.invalid ? 'bad' : 'muted'),
    ' ',
    badge(`${c.offline} offline`, c.offline ? 'warn' : 'muted'),
    h('span', { class: 'muted' }, ` of ${c.total} agent(s)`),
  );
}

function detail(a) {
  if (!a.valid) return h('ul', { class: 'issues' }, (a.errors ?? []).map((e) => h('li', { class: 'issue' }, h('code', { class: 'issue-path' }, e.path), h('span', { class: 'issue-message' }, e.message))));
  if (!a.diff) return h('span', { class: 'muted' }, 'No change.');
  const changedLines = a.diff.split('\n').filter((l) => /^[+-](?![+-])/.test(l)).length;
  if (!changedLines) return h('span', { class: 'muted' }, a.changed ? 'Same document as it runs.' : 'No change.');
  return h('details', { class: 'preview-diff', 'data-agent': a.agent_id }, h('summary', {}, `${changedLines} line(s) · ${a.patch?.length ?? 0} patch op(s)`), unifiedDiff(a.diff));
}

function agentsTable(agents) {
  return table(
    [
      { label: 'Agent', cell: (a) => h('a', { href: `#/agents/${encodeURIComponent(a.agent_id)}`, class: 'strong' }, a.agent_id) },
      { label: 'Change', cell: (a) => (!a.valid ? badge('invalid', 'bad') : a.changed ? badge('changes', 'info') : badge('unchanged', 'muted')) },
      { label: 'Online', cell: (a) => (a.online ? badge('online', 'ok') : badge('offline', 'warn')) },
      { label: 'Batch', cell: (a) => (a.batch ?? '—'), class: 'num' },
      { label: 'Diff against what it runs', cell: detail },
    ],
    agents,
    { empty: 'No agent is affected.', name: 'preview-agents', rowData: (a) => ({ agentId: a.agent_id, changed: String(a.changed) }) },
  );
}

export function previewPanel({ load, actions = [] }) {
  const head = h('div');
  const list = h('div');
  const more = h('div');
  const root = h('div', { class: 'preview', 'data-preview': '' }, h('h3', {}, 'Preview'), head, list, more, h('div', { class: 'conflict-actions' }, actions));
  let agents = [];

  async function page(offset) {
    const body = await load(offset, PAGE);
    agents = offset === 0 ? body.agents : [...agents, ...body.agents];
    replace(head, countsLine(body.counts), body.batch_count ? h('p', { class: 'muted' }, `Rolls out in ${body.batch_count} batch(es).`) : null);
    replace(list, agentsTable(agents));
    replace(more, agents.length < body.matching ? h('button', { type: 'button', class: 'btn btn-small', 'data-action': 'preview-more', onclick: () => void page(agents.length) }, `Show more (${body.matching - agents.length} left)`) : null);
    return body;
  }

  return Object.assign(root, { ready: page(0) });
}
