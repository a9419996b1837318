/**
 * Fleet overview: counts by state, one page of agents (searched, filtered
 * by selector, status and health), and recent commands. It never loads the
 * whole fleet: the table pages through GET /agents, and a live event about
 * an agent on the page refreshes that one row. Counts are re-read at most
 * every few seconds while events come, and every 30 s.
 */
import { getJson } from '../api.js';
import { badge, card, errorBanner, h, loading, replace, table } from '../dom.js';
import { ago, commandBadge, configBadge, count, dateTime, sigCode } from '../format.js';
import { createScope } from '../scope.js';

const PAGE_SIZE = 50;
const STATUS_TONES = { online: 'ok', offline: 'muted', inactive: 'muted' };
const HEALTH_TONES = { healthy: 'ok', degraded: 'warn', unhealthy: 'bad' };

function stat(label, value, detail, tone) {
  return h('div', { class: `stat ${tone ? `stat-${tone}` : ''}`, 'data-stat': label }, h('span', { class: 'stat-label' }, label), h('span', { class: 'stat-value' }, value), h('span', { class: 'stat-detail' }, detail));
}

function stats(d) {
  const t = d.totals;
  const away = t.offline + t.inactive;
  return h(
    'div',
    { class: 'stats' },
    stat('Agents online', `${count(t.online)} / ${count(t.agents)}`, away ? `${count(t.offline)} offline · ${count(t.inactive)} inactive` : 'all connected', t.agents && !t.online ? 'warn' : null),
    stat('Health', `${count(t.health.healthy)} healthy`, `${count(t.health.degraded)} degraded · ${count(t.health.unhealthy)} unhealthy`, t.health.unhealthy ? 'bad' : t.health.degraded ? 'warn' : null),
    stat('Config drift', count(t.drift), 'running ≠ desired', t.drift ? 'warn' : null),
    stat('Config failed', count(t.config_failed), 'NACKed by the agent', t.config_failed ? 'bad' : null),
    stat('Fusion pipes', `${count(t.pipes.RUNNING)} running`, `${count(t.pipes.STOPPED)} stopped · ${count(t.pipes.ERROR)} error`, t.pipes.ERROR ? 'bad' : null),
    stat('Sessions', count(t.sessions), `${count(t.views)} view(s)`),
  );
}

function labelChips(labels) {
  const entries = Object.entries(labels ?? {});
  if (!entries.length) return h('span', { class: 'muted' }, '—');
  return h('span', { class: 'labels' }, entries.map(([k, v]) => badge(`${k}=${v}`, 'info')));
}

const COLUMNS = [
  { label: 'Agent', cell: (a) => h('a', { href: `#/agents/${encodeURIComponent(a.agent_id)}`, class: 'strong' }, a.agent_id) },
  { label: 'Status', cell: (a) => badge(a.status, STATUS_TONES[a.status] ?? 'muted', a.transport ? `over ${a.transport}` : undefined) },
  { label: 'Health', cell: (a) => badge(a.health.status, HEALTH_TONES[a.health.status], a.health.reasons.join('\n') || undefined) },
  { label: 'Version', cell: (a) => a.version ?? '—' },
  { label: 'Address', cell: (a) => h('span', { class: 'mono' }, a.address ?? '—'), class: 'hide-sm' },
  { label: 'Labels', cell: (a) => labelChips(a.labels), class: 'hide-sm' },
  { label: 'Config', cell: (a) => configBadge(a.config.status, a.config.error) },
  { label: 'Desired', cell: (a) => sigCode(a.config.desired_signature), class: 'hide-sm' },
  { label: 'Drift', cell: (a) => (a.drift ? badge('drift', 'warn', 'The agent runs a config other than its desired one') : h('span', { class: 'muted' }, '—')) },
  { label: 'Last seen', cell: (a) => (a.online ? h('span', { class: 'muted' }, 'now') : h('span', { title: dateTime(a.last_seen) }, ago(a.last_seen))) },
];

function agentsTable(agents, filtered) {
  return table(COLUMNS, agents, {
    empty: filtered ? 'No agent matches the filters.' : 'No agent has connected yet. Start one with the enrollment token.',
    name: 'agents',
    rowData: (a) => ({ agentId: a.agent_id, status: a.status, health: a.health.status }),
  });
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

function select(name, label, options) {
  return h('select', { class: 'search filter-select', 'aria-label': label, 'data-filter': name }, options.map(([value, text]) => h('option', { value }, text)));
}

export function renderFleet(container, _params, { live }) {
  const scope = createScope();
  /** Cursors of the pages before the one shown (for Previous), and the one shown. */
  const history = [];
  let cursor = null;
  let page = { agents: [], next_cursor: null };
  const statsBox = h('div', {}, loading());
  const agentsBox = h('div', {}, loading());
  const commandsBox = h('div', {}, loading());
  const search = h('input', { type: 'search', class: 'search', placeholder: 'Search id or host…', 'aria-label': 'Search agents', 'data-filter': 'q' });
  const selector = h('input', { type: 'search', class: 'search', placeholder: 'Selector, e.g. env=prod', 'aria-label': 'Label selector', 'data-filter': 'selector' });
  const status = select('status', 'Status', [['', 'Any status'], ['online', 'Online'], ['offline', 'Offline'], ['inactive', 'Inactive']]);
  const health = select('health', 'Health', [['', 'Any health'], ['healthy', 'Healthy'], ['degraded', 'Degraded'], ['unhealthy', 'Unhealthy']]);
  const prev = h('button', { class: 'btn', type: 'button', 'data-page': 'prev' }, '← Previous');
  const next = h('button', { class: 'btn', type: 'button', 'data-page': 'next' }, 'Next →');
  const pageInfo = h('span', { class: 'muted', 'data-page-info': '' });
  const filterError = h('p', { class: 'form-error', role: 'alert' });

  function query() {
    const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
    for (const [input, name] of [[search, 'q'], [selector, 'selector'], [status, 'status'], [health, 'health']]) {
      if (input.value.trim()) q.set(name, input.value.trim());
    }
    if (cursor) q.set('cursor', cursor);
    return q;
  }
  const filtered = () => [search, selector, status, health].some((input) => input.value.trim());

  function showPage() {
    replace(agentsBox, agentsTable(page.agents, filtered()));
    prev.disabled = history.length === 0;
    next.disabled = !page.next_cursor;
    pageInfo.textContent = `page ${history.length + 1} · ${page.agents.length} agent(s)`;
  }

  /** Only the answer to the latest request is shown: an older one may arrive after it. */
  let loadSeq = 0;
  async function loadPage() {
    const seq = ++loadSeq;
    try {
      const loaded = await getJson(`/api/v1/management/agents?${query()}`);
      if (scope.closed || seq !== loadSeq) return;
      page = loaded;
      filterError.textContent = '';
      showPage();
    } catch (err) {
      if (scope.closed || seq !== loadSeq) return;
      if (err?.status === 400) filterError.textContent = err.message;
      else replace(agentsBox, errorBanner(err, () => void loadPage()));
    }
  }

  function restart() {
    history.length = 0;
    cursor = null;
    void loadPage();
  }
  const restartSoon = scope.debounce(restart, 300);
  for (const input of [search, selector]) input.addEventListener('input', restartSoon);
  for (const input of [status, health]) input.addEventListener('change', restart);
  prev.addEventListener('click', () => {
    cursor = history.pop() ?? null;
    void loadPage();
  });
  next.addEventListener('click', () => {
    if (!page.next_cursor) return;
    history.push(cursor);
    cursor = page.next_cursor;
    void loadPage();
  });

  replace(
    container,
    h('div', { class: 'page-head' }, h('h1', {}, 'Fleet'), h('p', { class: 'muted' }, 'Agents, their health and config state, and recent commands, updated live.')),
    statsBox,
    card('Agents', h('div', {}, h('div', { class: 'filters' }, selector, status, health), filterError, agentsBox, h('div', { class: 'pager' }, prev, pageInfo, next)), search),
    card('Recent commands', commandsBox),
  );

  async function refreshSummary() {
    try {
      const data = await getJson('/api/v1/management/dashboard');
      if (scope.closed) return;
      replace(statsBox, stats(data));
      replace(commandsBox, commandsTable(data.commands));
    } catch (err) {
      if (!scope.closed) replace(statsBox, errorBanner(err, () => void refreshSummary()));
    }
  }

  /** An event about an agent on the page refreshes its row; one about another agent reloads the first page only. */
  async function onAgentEvent(event) {
    const id = event?.data?.agent_id;
    if (typeof id !== 'string') return;
    const index = page.agents.findIndex((a) => a.agent_id === id);
    if (index === -1) {
      if (history.length === 0) reloadSoon();
      return;
    }
    try {
      const agent = await getJson(`/api/v1/management/agents/${encodeURIComponent(id)}`);
      if (scope.closed) return;
      const at = page.agents.findIndex((a) => a.agent_id === id);
      if (at !== -1) page.agents[at] = agent;
      showPage();
    } catch {
      // The next event or page load shows it.
    }
  }
  const reloadSoon = scope.throttle(() => void loadPage(), 1000);
  const summarySoon = scope.throttle(() => void refreshSummary(), 2000);
  scope.onCleanup(live.on('*', (event) => {
    if (event?.type?.startsWith('agent.')) void onAgentEvent(event);
    summarySoon();
  }));
  scope.onCleanup(live.on('resync', () => {
    void loadPage();
    void refreshSummary();
  }));
  scope.every(() => {
    void refreshSummary();
    showPage();
  }, 30_000);
  void refreshSummary();
  void loadPage();
  return () => scope.close();
}
