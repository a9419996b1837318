/**
 * One agent: connection and config state at the top (live), then tabs for
 * the desired / applied / reported configs side by side, the config editor,
 * the config history, commands, and the agent's pipes.
 */
import { api, etagOf, getJson } from '../api.js';
import { badge, errorBanner, h, load, loading, replace, table } from '../dom.js';
import { ago, configBadge, count, dateTime, onlineBadge, pipeBadge, shortSig, sigCode } from '../format.js';
import { createScope } from '../scope.js';
import { agentManagePanel } from '../components/agent-manage.js';
import { commandPanel } from '../components/command-panel.js';
import { configCompare, loadConfigs } from '../components/config-compare.js';
import { configEditor } from '../components/config-editor.js';
import { diffView } from '../diff.js';
import { toYaml } from '../yaml-tools.js';

const TABS = [
  ['config', 'Config'],
  ['edit', 'Edit'],
  ['history', 'History'],
  ['commands', 'Commands'],
  ['pipes', 'Pipes'],
  ['manage', 'Manage'],
];

function meta(label, value) {
  return h('div', { class: 'meta' }, h('dt', {}, label), h('dd', {}, value));
}

function header(agent) {
  const c = agent.config;
  return h(
    'div',
    { class: 'agent-head', 'data-agent-header': '', 'data-online': String(agent.online), 'data-config-status': c.status ?? 'none' },
    h('div', { class: 'agent-title' }, h('h1', {}, agent.agent_id), onlineBadge(agent.online), configBadge(c.status, c.error), h('span', { 'data-health-badge': agent.health.status }, badge(agent.health.status, { healthy: 'ok', degraded: 'warn', unhealthy: 'bad' }[agent.health.status], agent.health.reasons.join('\n') || undefined)), agent.drift ? badge('drift', 'warn', 'The agent runs a config other than its desired one') : null),
    c.status === 'failed' && c.error ? h('div', { class: 'banner banner-error', 'data-config-error': '' }, h('strong', {}, 'The agent rejected the desired config: '), c.error) : null,
    h(
      'dl',
      { class: 'meta-grid' },
      meta('Version', agent.version ?? '—'),
      meta('Host', agent.hostname ?? '—'),
      meta('Address', h('span', { class: 'mono' }, agent.address ?? '—')),
      meta(agent.online ? 'Connected' : 'Last seen', agent.online ? h('span', { title: dateTime(agent.connected_at) }, ago(agent.connected_at)) : h('span', { title: dateTime(agent.last_seen) }, ago(agent.last_seen))),
      meta('Desired', c.desired_signature ? h('code', { class: 'sig', title: c.desired_signature, 'data-sig': 'desired' }, `r${c.desired_revision} · ${shortSig(c.desired_signature)}`) : sigCode(null)),
      meta('Applied', sigCode(c.applied_signature, { 'data-sig': 'applied' })),
      meta('Running', h('span', {}, sigCode(c.running_signature), c.running_source && c.running_source !== 'none' ? h('span', { class: 'muted' }, ` (${c.running_source})`) : null)),
      meta('Reported', sigCode(c.reported_signature, { 'data-sig': 'reported' })),
    ),
  );
}

/**
 * The agent's pipes. While it is offline they are the states it reported
 * last (`pipes_stale`), shown greyed under "last reported <time>" so they
 * cannot be taken for live ones.
 */
function pipesTable(agent) {
  const pipes = agent.pipes ?? [];
  const rows = table(
    [
      { label: 'Pipe', cell: (p) => p.id },
      { label: 'State', cell: (p) => pipeBadge(p.state) },
      { label: 'Records sent', cell: (p) => count(p.records_sent), class: 'num' },
      { label: 'Last error', cell: (p) => p.last_error ?? '' },
    ],
    pipes,
    { empty: agent.online ? 'The agent reported no pipes.' : 'No pipe status known: the agent is offline.', name: 'agent-pipes' },
  );
  if (!agent.pipes_stale || !pipes.length) return rows;
  return h(
    'div',
    { class: 'pipes-stale', 'data-pipes-stale': '' },
    h(
      'p',
      { class: 'muted stale-note' },
      'The agent is offline: last reported ',
      h('span', { title: dateTime(agent.pipes_as_of), 'data-pipes-as-of': '' }, ago(agent.pipes_as_of)),
      '. These states are not live.',
    ),
    rows,
  );
}

function historyTab(agentId, current, onRestore) {
  const base = `/api/v1/management/agents/${encodeURIComponent(agentId)}/config`;
  const detail = h('div', { class: 'history-detail' });
  const list = h('div');
  void load(list, async () => {
    const { revisions } = await getJson(`${base}/history?limit=200`);
    return table(
      [
        { label: 'Revision', cell: (r) => h('button', { type: 'button', class: 'link-button', onclick: () => void show(r.revision) }, `r${r.revision}`) },
        { label: 'Signature', cell: (r) => sigCode(r.signature) },
        { label: 'Author', cell: (r) => r.author },
        { label: 'Saved', cell: (r) => h('span', { title: dateTime(r.created_at) }, ago(r.created_at)) },
        { label: '', cell: (r) => (r.signature === current?.signature ? badge('current', 'info') : '') },
      ],
      revisions,
      { empty: 'No config stored for this agent yet.', name: 'history' },
    );
  });
  async function show(revision) {
    replace(detail, loading());
    try {
      const rev = await getJson(`${base}/history/${revision}`);
      const text = toYaml(rev.document);
      replace(
        detail,
        h('div', { class: 'card-sub-head' }, h('h3', {}, `Revision ${rev.revision}`), h('button', { type: 'button', class: 'btn btn-small', onclick: () => onRestore(text) }, 'Load into editor')),
        current ? diffView(current.text, text, { from: 'current desired', to: `revision ${rev.revision}` }) : null,
        h('pre', { class: 'code' }, text),
      );
    } catch (err) {
      replace(detail, errorBanner(err));
    }
  }
  return h('div', { class: 'split split-wide' }, list, detail);
}

export function renderAgent(container, { id }, { live }) {
  const scope = createScope();
  const headBox = h('div', {}, loading());
  const tabBar = h('div', { class: 'tabs', role: 'tablist' });
  const panel = h('div', { class: 'tab-panel' });
  let agent = null;
  let tab = 'config';
  let editor = null;
  let commands = null;
  let shownConfigs = '';
  const configKey = (a) => [a.config.desired_signature, a.config.applied_signature, a.config.running_signature, a.config.reported_signature, a.config.reported_at].join('|');
  const base = `/api/v1/management/agents/${encodeURIComponent(id)}/config`;

  replace(container, h('p', { class: 'crumbs' }, h('a', { href: '#/fleet' }, 'Fleet'), ' / ', id), headBox, h('section', { class: 'card' }, tabBar, panel));

  const editorSource = {
    async load() {
      try {
        const res = await api(base, { accept: 'application/yaml' });
        // Anything but YAML text here (a cached JSON answer, say) must not reach the editor, where saving it would replace the config.
        if (typeof res.body !== 'string') throw Object.assign(new Error(`expected the config as YAML, got ${res.headers.get('content-type') ?? 'no content type'}`), { code: 'unexpected_response' });
        return { text: res.body, etag: etagOf(res.headers) };
      } catch (err) {
        if (err.status === 404) return { text: '', etag: null };
        throw err;
      }
    },
    async save(text, etag) {
      const { body, headers } = await api(base, { method: 'POST', body: text, type: 'application/yaml', headers: etag ? { 'if-match': `"${etag}"` } : {} });
      return { etag: etagOf(headers), summary: `Saved revision ${body.revision}; pushing to the agent…` };
    },
  };

  function selectTab(name) {
    tab = name;
    replace(
      tabBar,
      TABS.map(([key, label]) => h('button', { type: 'button', role: 'tab', class: `tab ${key === tab ? 'active' : ''}`, 'aria-selected': String(key === tab), 'data-tab': key, onclick: () => selectTab(key) }, label)),
    );
    if (name === 'config') {
      shownConfigs = configKey(agent);
      void load(panel, async () => configCompare(await loadConfigs(agent)));
    }
    else if (name === 'edit') {
      editor ??= configEditor({ source: editorSource, name: 'agent-config', placeholder: 'sources:\n  …', onSaved: () => void refresh() });
      replace(panel, h('p', { class: 'muted' }, 'Fusion validates before storing; a saved config is pushed to the agent at once and its state shows above.'), editor);
    } else if (name === 'history') {
      void load(panel, async () => {
        const desired = await getJson(base).catch(() => null);
        return historyTab(id, desired && { signature: desired.signature, text: toYaml(desired.document) }, (text) => {
          selectTab('edit');
          editor.setText(text);
        });
      });
    } else if (name === 'commands') {
      commands ??= commandPanel({ agentId: id, live, scope });
      replace(panel, commands);
    } else if (name === 'pipes') replace(panel, pipesTable(agent));
    else if (name === 'manage') showManage();
  }

  /** The Manage tab is drawn again only after its own changes, so a live refresh never clears what is being typed. */
  function showManage() {
    replace(panel, agentManagePanel({ agent, scope, onChanged: () => void refresh().then(() => tab === 'manage' && showManage()) }));
  }

  async function refresh() {
    try {
      agent = await getJson(`/api/v1/management/agents/${encodeURIComponent(id)}`);
      if (scope.closed) return;
      replace(headBox, header(agent));
      if (!tabBar.childElementCount) selectTab(tab);
      else if (tab === 'config' && configKey(agent) !== shownConfigs) selectTab('config');
      else if (tab === 'pipes') replace(panel, pipesTable(agent));
    } catch (err) {
      if (scope.closed) return;
      replace(headBox, err.status === 404 ? h('div', { class: 'banner banner-warn' }, `Fusion does not know an agent "${id}" yet.`) : errorBanner(err, () => void refresh()));
    }
  }

  const soon = scope.debounce(() => void refresh(), 150);
  scope.onCleanup(
    live.on('*', (event) => {
      if (event.data?.agent_id === id && event.type !== 'command.transition') soon();
    }),
  );
  scope.onCleanup(live.on('resync', soon));
  scope.every(() => void refresh(), 30_000);
  void refresh();
  return () => scope.close();
}
