/**
 * A group's rule: the label selector whose matching agents are members.
 * Shows the rule and the agents it matches but does not hold (with why),
 * previews a change (who would join, who would leave) and saves or removes
 * it. Agents are chosen by their admin labels only.
 */
import { api } from '../api.js';
import { badge, errorBanner, h, replace, table } from '../dom.js';

function stepsTable(change) {
  const rows = [
    ...change.join.map((s) => ({ action: 'join', agent: s.agent_id, group: s.group, reason: '' })),
    ...change.leave.map((s) => ({ action: 'leave', agent: s.agent_id, group: s.group, reason: '' })),
    ...change.not_claimed.map((c) => ({ action: 'not claimed', agent: c.agent_id, group: c.group, reason: c.reason })),
    ...change.conflicts.map((c) => ({ action: 'conflict', agent: c.agent_id, group: c.group, reason: c.reason })),
  ];
  return table(
    [
      { label: 'Action', cell: (r) => badge(r.action, r.action === 'join' ? 'ok' : r.action === 'leave' ? 'warn' : 'muted') },
      { label: 'Agent', cell: (r) => r.agent },
      { label: 'Group', cell: (r) => r.group },
      { label: 'Reason', cell: (r) => r.reason || '—' },
    ],
    rows,
    { empty: 'No agent joins or leaves.', name: 'rule-preview', rowData: (r) => ({ agentId: r.agent, action: r.action }) },
  );
}

function summary(change, dryRun) {
  const c = change.counts;
  return `${dryRun ? 'Would add' : 'Added'} ${c.join} agent(s), ${dryRun ? 'release' : 'released'} ${c.leave}; ${c.not_claimed} not claimed, ${c.conflicts} conflict(s).`;
}

/** `update(group)` shows a group as GET /groups/{name} answers it; the text field keeps what the admin is typing. */
export function groupRuleEditor({ name, onChanged }) {
  const base = `/api/v1/management/groups/${encodeURIComponent(name)}`;
  const input = h('input', { type: 'text', class: 'rule-input mono', 'data-field': 'selector', placeholder: 'env=prod,region in (eu,us),!canary', maxlength: '1024' });
  const current = h('p', { 'data-rule': '' });
  const conflicts = h('div', {});
  const result = h('div', { 'data-rule-result': '' });
  let dirty = false;
  input.addEventListener('input', () => {
    dirty = true;
  });

  async function send(selector, dryRun) {
    try {
      const { body } = await api(`${base}${dryRun ? '?dry_run=true' : ''}`, { method: 'PATCH', body: { selector } });
      const change = dryRun ? body : body.rule_change;
      replace(result, h('p', { class: 'muted', 'data-rule-summary': '' }, summary(change, dryRun), dryRun ? ' Nothing stored.' : ''), stepsTable(change));
      if (!dryRun) {
        dirty = false;
        onChanged?.();
      }
    } catch (err) {
      replace(result, errorBanner(err));
    }
  }
  const text = () => input.value.trim();
  const buttons = h(
    'div',
    { class: 'rule-actions' },
    h('button', { type: 'button', class: 'btn btn-small', 'data-action': 'preview-rule', onclick: () => void send(text(), true) }, 'Preview'),
    h('button', { type: 'button', class: 'btn btn-small btn-primary', 'data-action': 'save-rule', onclick: () => void send(text(), false) }, 'Save rule'),
    h('button', { type: 'button', class: 'btn btn-small', 'data-action': 'remove-rule', onclick: () => void send(null, false) }, 'Remove rule'),
  );
  const el = h(
    'div',
    { class: 'rule-editor' },
    h('p', { class: 'muted' }, 'Agents whose labels match the rule are members, unless an admin, an enrollment token or their bootstrap put them in another group. Self-reported attributes never count.'),
    current,
    h('label', { class: 'field' }, h('span', { class: 'muted' }, 'Selector'), input),
    buttons,
    result,
    conflicts,
  );

  el.update = (group) => {
    const rule = group.rule;
    if (!dirty) input.value = group.selector ?? '';
    replace(
      current,
      group.selector
        ? [h('code', { class: 'code-tag' }, group.selector), ' ', badge(`claims ${rule?.claimed ?? 0}`, 'info'), rule?.conflict_count ? [' ', badge(`${rule.conflict_count} not claimed`, 'warn')] : null]
        : badge('no rule: members are assigned', 'muted'),
    );
    replace(
      conflicts,
      rule && rule.conflicts.length
        ? [
            h('h3', {}, 'Matching agents not claimed'),
            table(
              [
                { label: 'Agent', cell: (c) => h('a', { href: `#/agents/${encodeURIComponent(c.agent_id)}` }, c.agent_id) },
                { label: 'Held by', cell: (c) => c.held_by ?? '—' },
                { label: 'Why', cell: (c) => c.reason },
              ],
              rule.conflicts,
              { name: 'rule-conflicts', rowData: (c) => ({ agentId: c.agent_id }) },
            ),
          ]
        : null,
    );
  };
  return el;
}
