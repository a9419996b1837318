/**
 * Fusion's own side: its pipes with their state, receivers, views with
 * totals and leaders, live ingest sessions, and the fusion.yaml editor
 * (admin role) with a reload from disk.
 */
import { api, etagOf, getJson } from '../api.js';
import { badge, card, errorBanner, h, loading, replace, table } from '../dom.js';
import { ago, bytes, count, dateTime, duration, pipeBadge, shortSig } from '../format.js';
import { createScope } from '../scope.js';
import { configEditor } from '../components/config-editor.js';

function pipesTable(pipes) {
  return table(
    [
      { label: 'Pipe', cell: (p) => h('strong', {}, p.pipe_id) },
      { label: 'State', cell: (p) => h('span', {}, pipeBadge(p.state, p.reason), p.reason && p.state !== 'RUNNING' ? h('span', { class: 'reason' }, p.reason) : null) },
      { label: 'Receiver', cell: (p) => `${p.receiver.receiver_id} (${p.receiver.driver ?? '?'})` },
      { label: 'Views', cell: (p) => p.view_ids.join(', ') },
      { label: 'Sessions', cell: (p) => count(p.session_count), class: 'num' },
      { label: 'Events', cell: (p) => count(p.events_pushed), class: 'num' },
    ],
    pipes,
    { empty: 'fusion.yaml defines no pipes.', name: 'fusion-pipes', rowData: (p) => ({ pipe: p.pipe_id, state: p.state }) },
  );
}

function receiversTable(receivers) {
  return table(
    [
      { label: 'Receiver', cell: (r) => h('strong', {}, r.receiver_id) },
      { label: 'Driver', cell: (r) => r.driver },
      { label: 'Session timeout', cell: (r) => `${r.session_timeout_seconds}s` },
      { label: 'Heartbeat', cell: (r) => `${r.heartbeat_interval_seconds}s` },
      { label: 'API keys', cell: (r) => count(r.api_key_count), class: 'num' },
      { label: 'Pipes', cell: (r) => r.pipe_ids.join(', ') || '—' },
    ],
    receivers,
    { empty: 'No receivers.', name: 'receivers' },
  );
}

function viewsTable(views, sessions) {
  const agentOf = new Map(sessions.map((s) => [s.session_id, s.agent_id]));
  return table(
    [
      { label: 'View', cell: (v) => h('strong', {}, v.view_id) },
      { label: 'Driver', cell: (v) => v.driver },
      { label: 'Files', cell: (v) => count(v.stats?.files), class: 'num' },
      { label: 'Dirs', cell: (v) => count(v.stats?.dirs), class: 'num' },
      { label: 'Size', cell: (v) => bytes(v.stats?.total_bytes), class: 'num' },
      { label: 'Last event', cell: (v) => h('span', { title: dateTime(v.stats?.last_event_at) }, ago(v.stats?.last_event_at)) },
      { label: 'Leader', cell: (v) => (v.leader_session_id ? `${agentOf.get(v.leader_session_id) ?? '?'} · ${v.leader_session_id.slice(0, 8)}` : '—') },
    ],
    views,
    { empty: 'No views.', name: 'views' },
  );
}

function sessionsTable(sessions) {
  return table(
    [
      { label: 'Session', cell: (s) => h('code', { title: s.session_id }, s.session_id.slice(0, 10)) },
      { label: 'Agent', cell: (s) => h('a', { href: `#/agents/${encodeURIComponent(s.agent_id)}` }, s.agent_id) },
      { label: 'Agent pipe', cell: (s) => s.agent_pipe_id },
      { label: 'Fusion pipe', cell: (s) => s.pipe_id },
      { label: 'Role', cell: (s) => badge(s.role, s.role === 'leader' ? 'info' : 'muted', s.leader_of.length ? `leads ${s.leader_of.join(', ')}` : undefined) },
      { label: 'Age', cell: (s) => duration(s.age_seconds * 1000), class: 'num' },
      { label: 'Idle', cell: (s) => duration(s.idle_seconds * 1000), class: 'num' },
      { label: 'Events', cell: (s) => count(s.events_pushed), class: 'num' },
    ],
    sessions,
    { empty: 'No open ingest sessions.', name: 'sessions' },
  );
}

function fusionConfigCard(scope, onApplied) {
  const body = h('div');
  const note = h('div');
  const reload = h('button', { type: 'button', class: 'btn btn-small', 'data-action': 'reload' }, 'Reload from disk');
  const source = {
    async load() {
      const res = await api('/api/v1/management/config');
      const file = res.body;
      replace(note, file.valid ? null : h('div', { class: 'banner banner-warn' }, 'The file on disk is not valid; Fusion keeps running the last valid config (', h('code', {}, shortSig(file.applied_signature)), ').'));
      return { text: file.text, etag: etagOf(res.headers) };
    },
    async save(text, etag) {
      const res = await api('/api/v1/management/config', { method: 'POST', body: text, type: 'application/yaml', headers: etag ? { 'if-match': `"${etag}"` } : {} });
      return { etag: etagOf(res.headers), summary: `Applied: ${summarize(res.body.changes)}` };
    },
  };
  reload.addEventListener('click', async () => {
    reload.disabled = true;
    try {
      const { body: applied } = await api('/api/v1/management/reload', { method: 'POST' });
      replace(note, h('div', { class: 'banner banner-ok' }, `Reloaded ${applied.path}: ${summarize(applied.changes)}`));
      onApplied();
    } catch (err) {
      replace(note, errorBanner(err));
    } finally {
      reload.disabled = false;
    }
  });
  // fusion.yaml holds receiver keys: only the admin role may read it.
  getJson('/api/v1/management/config').then(
    () => {
      if (!scope.closed) replace(body, note, configEditor({ source, name: 'fusion-config', onSaved: onApplied }));
    },
    (err) => replace(body, err.status === 403 ? h('p', { class: 'muted' }, 'Reading and editing fusion.yaml needs the admin role.') : errorBanner(err)),
  );
  replace(body, loading());
  return card('fusion.yaml', body, reload);
}

function summarize(changes) {
  const parts = [];
  for (const [section, c] of Object.entries(changes ?? {})) {
    for (const [kind, ids] of Object.entries(c)) if (ids.length) parts.push(`${section} ${kind}: ${ids.join(', ')}`);
  }
  return parts.length ? parts.join('; ') : 'no change';
}

export function renderFusion(container, _params, { live }) {
  const scope = createScope();
  const boxes = { pipes: h('div', {}, loading()), receivers: h('div', {}, loading()), views: h('div', {}, loading()), sessions: h('div', {}, loading()) };
  const sig = h('code', { class: 'sig' });
  replace(
    container,
    h('div', { class: 'page-head' }, h('h1', {}, 'Fusion'), h('p', { class: 'muted' }, 'Data plane: pipes, receivers, views and ingest sessions. Config in force: ', sig)),
    card('Pipes', boxes.pipes),
    h('div', { class: 'grid-2' }, card('Receivers', boxes.receivers), card('Views', boxes.views)),
    card('Sessions', boxes.sessions),
    fusionConfigCard(scope, () => soon()),
  );

  async function refresh() {
    try {
      const d = await getJson('/api/v1/management/dashboard');
      if (scope.closed) return;
      sig.textContent = shortSig(d.fusion.config_signature);
      sig.title = d.fusion.config_signature;
      replace(boxes.pipes, pipesTable(d.pipes));
      replace(boxes.receivers, receiversTable(d.receivers));
      replace(boxes.views, viewsTable(d.views, d.sessions));
      replace(boxes.sessions, sessionsTable(d.sessions));
    } catch (err) {
      if (!scope.closed) replace(boxes.pipes, errorBanner(err, () => void refresh()));
    }
  }
  const soon = scope.debounce(() => void refresh(), 200);
  scope.onCleanup(live.on('*', (e) => (e.type.startsWith('session.') || e.type.startsWith('fusion.') ? soon() : undefined)));
  scope.onCleanup(live.on('resync', soon));
  scope.every(() => void refresh(), 10_000);
  void refresh();
  return () => scope.close();
}
