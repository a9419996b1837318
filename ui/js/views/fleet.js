/**
 * Fleet overview: totals, every agent with its connection and config state,
 * and recent commands. It refetches the dashboard whenever the event stream
 * reports a change (debounced), and every 30 s for the relative times.
 */
import { getJson } from '../api.js';
import { badge, card, errorBanner, h, loading, replace, table } from '../dom.js';
import { ago, commandBadge, configBadge, count, dateTime, onlineBadge, sigCode } from '../format.js';
import { createScope } from '../scope.js';

function stat(label, value, detail, tone) {
  return h('div', { class: `stat ${tone ? `stat-${tone}` : ''}`, 'data-stat': label }, h('span', { class: 'stat-label' }, label), h('span', { class: 'stat-value' }, value), h('span', { class: 'stat-detail' }, detail));
}

function stats(d) {
  const t = d.totals;
  return h(
    'div',
    { class: 'stats' },
    stat('Agents online', `${count(t.online)} / ${count(t.agents)}`, t.offline ? `${count(t.offline)} offline` : 'all connected', t.agents && !t.online ? 'warn' : null),
    stat('Config drift', count(t.drift), 'reported ≠ desired', t.drift ? 'warn' : null),
    stat('Config failed', count(t.config_failed), 'NACKed by the agent', t.config_failed ? 'bad' : null),
    stat('Fusion pipes', `${count(t.pipes.RUNNING)} running`, `${count(t.pipes.STOPPED)} stopped · ${count(t.pipes.ERROR)} error`, t.pipes.ERROR ? 'bad' : null),
    stat('Sessions', count(t.sessions), `${count(t.views)} view(s)`),
  );
}

function agentsTable(agents, filter) {
  const needle = filter.trim().toLowerCase();
  const rows = needle ? agents.filter((a) => [a.agent_id, a.hostname, a.address, a.version, a.status, a.config.status].some((v) => String(v ?? '').toLowerCase().includes(needle))) : agents;
  return table(
    [
      { label: 'Agent', cell: (a) => h('a', { href: `#/agents/${encodeURIComponent(a.agent_id)}`, class: 'strong' }, a.agent_id) },
      { label: 'Status', cell: (a) => onlineBadge(a.online) },
      { label: 'Version', cell: (a) => a.version ?? '—' },
      { label: 'Address', cell: (a) => h('span', { class: 'mono' }, a.address ?? '—'), class: 'hide-sm' },
      { label: 'Config', cell: (a) => configBadge(a.config.status, a.config.error) },
      { label: 'Desired', cell: (a) => sigCode(a.config.desired_signature), class: 'hide-sm' },
      { label: 'Applied', cell: (a) => sigCode(a.config.applied_signature), class: 'hide-sm' },
      { label: 'Reported', cell: (a) => sigCode(a.config.reported_signature), class: 'hide-sm' },
      { label: 'Drift', cell: (a) => (a.drift ? badge('drift', 'warn', 'The reported config differs from the desired one') : h('span', { class: 'muted' }, '—')) },
      { label: 'Sessions', cell: (a) => count(a.session_count), class: 'num' },
      { label: 'Last seen', cell: (a) => (a.online ? h('span', { class: 'muted' }, 'now') : h('span', { title: dateTime(a.last_seen) }, ago(a.last_seen))) },
    ],
    rows,
    { empty: needle ? 'No agent matches the filter.' : 'No agent has connected yet. Start one with the enrollment token.', name: 'agents', rowData: (a) => ({ agentId: a.agent_id, status: a.status }) },
  );
}

function commandsTable(commands) {
  return table(
    [
      { label: 'Command', cell: (c) => c.type },
      { label: 'Agent', cell: (c) => h('a', { href: `#/agents/${encodeURIComponent(c.agent_id)}` }, c.agent_id) },
      { label: 'Status', cell: (c) => commandBadge(c.status) },
      { label: 'Created', cell: (c) => h('span', { title: dateTime(c.created_at) }, ago(c.created_at)) },
      { label: 'By', cell: (c) => c.author, class: 'hide-sm' },
      { label: 'Error', cell: (c) => c.error ?? '', class: 'hide-sm' },
    ],
    commands,
    { empty: 'No commands yet.', name: 'commands' },
  );
}

export function renderFleet(container, _params, { live }) {
  const scope = createScope();
  let data = null;
  let filter = '';
  const statsBox = h('div', {}, loading());
  const agentsBox = h('div', {}, loading());
  const commandsBox = h('div', {}, loading());
  const search = h('input', { type: 'search', class: 'search', placeholder: 'Filter agents…', 'aria-label': 'Filter agents' });
  search.addEventListener('input', () => {
    filter = search.value;
    if (data) replace(agentsBox, agentsTable(data.agents, filter));
  });

  replace(
    container,
    h('div', { class: 'page-head' }, h('h1', {}, 'Fleet'), h('p', { class: 'muted' }, 'Agents, their config state and recent commands, updated live.')),
    statsBox,
    card('Agents', agentsBox, search),
    card('Recent commands', commandsBox),
  );

  async function refresh() {
    try {
      data = await getJson('/api/v1/management/dashboard');
      if (scope.closed) return;
      replace(statsBox, stats(data));
      replace(agentsBox, agentsTable(data.agents, filter));
      replace(commandsBox, commandsTable(data.commands));
    } catch (err) {
      if (!scope.closed) replace(statsBox, errorBanner(err, () => void refresh()));
    }
  }
  const soon = scope.debounce(() => void refresh(), 200);
  scope.onCleanup(live.on('*', soon));
  scope.onCleanup(live.on('resync', soon));
  scope.every(() => void refresh(), 30_000);
  void refresh();
  return () => scope.close();
}
