/**
 * Config groups and rollouts: a group's template, its members and the
 * rollouts of its revisions. When this Fusion has no groups API yet (404),
 * the page says so instead of failing.
 */
import { api, ApiError, getJson } from '../api.js';
import { changeList } from '../components/change-list.js';
import { groupRuleEditor } from '../components/group-rule-editor.js';
import { groupTemplateEditor } from '../components/group-template-editor.js';
import { rolloutDetail } from '../components/rollout-detail.js';
import { badge, card, errorBanner, h, loading, replace, table } from '../dom.js';
import { ago, count, dateTime, shortSig } from '../format.js';
import { createScope } from '../scope.js';

const list = (body, key) => (Array.isArray(body) ? body : (body?.[key] ?? []));

async function optional(path) {
  try {
    return await getJson(path);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return undefined;
    throw err;
  }
}

const ROLLOUT_TONES = { running: 'info', completed: 'ok', halted: 'bad', superseded: 'muted', rolled_back: 'warn' };

function progress(r) {
  const c = r.counts;
  if (!c) return '—';
  const done = c.applied ?? 0;
  const pct = c.total ? Math.round((done / c.total) * 100) : 0;
  const bar = h('span', { class: 'progress', title: `${done} of ${c.total} applied` }, h('span', { class: 'progress-fill' }));
  bar.firstChild.style.width = `${pct}%`;
  return h('span', { class: 'progress-cell' }, bar, `${done}/${c.total}`, c.soaking ? badge(`${c.soaking} soaking`, 'warn') : null, c.failed ? badge(`${c.failed} failed`, 'bad') : null);
}

function rolloutsTable(rollouts, onShow) {
  return table(
    [
      { label: 'Rollout', cell: (r) => h('button', { type: 'button', class: 'link-button', title: r.id, 'data-action': 'show-rollout', onclick: () => onShow(r.id) }, String(r.id).slice(0, 10)) },
      { label: 'Revision', cell: (r) => `r${r.from_revision ?? '—'} → r${r.to_revision ?? '?'}` },
      { label: 'Status', cell: (r) => h('span', {}, badge(r.status, ROLLOUT_TONES[r.status] ?? 'muted', r.status_reason ?? undefined), r.status_reason ? h('span', { class: 'reason' }, r.status_reason) : null) },
      { label: 'Batch', cell: (r) => (r.batch_count ? `${r.current_batch} / ${r.batch_count}` : '—') },
      { label: 'Applied', cell: progress },
      { label: 'Started', cell: (r) => h('span', { title: dateTime(r.created_at) }, ago(r.created_at)) },
    ],
    rollouts,
    { empty: 'No rollouts yet.', name: 'rollouts', rowData: (r) => ({ status: r.status }) },
  );
}

function membersTable(members) {
  return table(
    [
      { label: 'Agent', cell: (m) => h('a', { href: `#/agents/${encodeURIComponent(m.agent_id)}`, class: 'strong' }, m.agent_id) },
      { label: 'Variables', cell: (m) => h('span', { class: 'mono' }, Object.entries(m.variables ?? {}).map(([k, v]) => `${k}=${v}`).join(', ') || '—') },
      { label: 'Override', cell: (m) => (m.override ? badge('override', 'info') : '—') },
      { label: 'Source', cell: (m) => badge(m.source ?? m.assigned_by ?? '—', m.source === 'rule' ? 'info' : 'muted', m.source === 'rule' ? "its labels match the group's rule" : undefined) },
      { label: 'Rendered from', cell: (m) => (m.rendered_revision ? `r${m.rendered_revision}` : '—') },
    ],
    members,
    { empty: 'No members.', name: 'members', rowData: (m) => ({ agentId: m.agent_id, source: m.source ?? m.assigned_by }) },
  );
}

export function renderGroups(container, _params, { live }) {
  const scope = createScope();
  const body = h('div', {}, loading());
  replace(container, h('div', { class: 'page-head' }, h('h1', {}, 'Groups'), h('p', { class: 'muted' }, 'Config templates shared by groups of agents, and their staged rollouts.')), card('All groups', body));
  async function refresh() {
    try {
      const groups = await optional('/api/v1/management/groups');
      if (scope.closed) return;
      if (groups === undefined) {
        replace(body, h('p', { class: 'empty', 'data-groups-unavailable': '' }, 'No groups: this Fusion does not offer config groups yet.'));
        return;
      }
      replace(
        body,
        table(
          [
            { label: 'Group', cell: (g) => h('a', { href: `#/groups/${encodeURIComponent(g.name)}`, class: 'strong' }, g.name) },
            { label: 'Description', cell: (g) => g.description ?? '' },
            { label: 'Members', cell: (g) => count(g.members ?? g.member_count), class: 'num' },
            { label: 'Rule', cell: (g) => (g.selector ? h('code', { class: 'code-tag' }, g.selector) : '—') },
            { label: 'Template', cell: (g) => (g.revision ? `r${g.revision} · ${shortSig(g.signature)}` : '—') },
            { label: 'Updated', cell: (g) => h('span', { title: dateTime(g.updated_at) }, ago(g.updated_at)) },
          ],
          list(groups, 'groups'),
          { empty: 'No groups yet.', name: 'groups' },
        ),
      );
    } catch (err) {
      if (!scope.closed) replace(body, errorBanner(err, () => void refresh()));
    }
  }
  scope.onCleanup(live.on('rollout.progress', scope.debounce(() => void refresh())));
  void refresh();
  return () => scope.close();
}

export function renderGroup(container, { name }, { live }) {
  const scope = createScope();
  const base = `/api/v1/management/groups/${encodeURIComponent(name)}`;
  const body = h('div', {}, loading());
  const rolloutBox = h('div', {}, h('p', { class: 'empty' }, 'Choose a rollout above to see its members, soak timers and reasons.'));
  let shownRollout = null;
  const showRollout = (id) => {
    shownRollout = id;
    replace(rolloutBox, rolloutDetail(id));
  };
  const changes = changeList({ group: name, onDecided: () => void refresh() });
  const editor = groupTemplateEditor({ name, onSaved: () => void refresh().then(() => changes.refresh()) });
  const rule = groupRuleEditor({ name, onChanged: () => void refresh() });
  replace(
    container,
    h('p', { class: 'crumbs' }, h('a', { href: '#/groups' }, 'Groups'), ' / ', name),
    body,
    card('Rule', rule),
    card('Rollout members', rolloutBox),
    card('Changes waiting for review', changes),
    card('Edit template', editor),
  );
  async function toggleReview(required) {
    await api(base, { method: 'PATCH', body: { require_review: required } });
    await refresh();
  }
  async function refresh() {
    try {
      const group = await optional(base);
      if (scope.closed) return;
      if (group === undefined) {
        replace(body, h('div', { class: 'banner banner-warn' }, `No group "${name}" on this Fusion.`));
        return;
      }
      const [members, rollouts] = await Promise.all([optional(`${base}/members`), optional(`${base}/rollouts`)]);
      if (scope.closed) return;
      rule.update(group);
      replace(
        body,
        h(
          'div',
          { class: 'page-head' },
          h('h1', {}, name),
          h('p', { class: 'muted' }, group.description || 'No description.', ' · template ', h('code', { class: 'sig', title: group.signature ?? '' }, `r${group.revision ?? '?'} · ${shortSig(group.signature)}`)),
          h(
            'p',
            { 'data-review': String(Boolean(group.require_review)) },
            group.require_review ? badge('changes need review', 'warn', 'A template save or a member change waits for another admin to approve it') : badge('saves roll out at once', 'muted'),
            ' ',
            h('button', { type: 'button', class: 'btn btn-small', 'data-action': 'toggle-review', onclick: () => void toggleReview(!group.require_review) }, group.require_review ? 'Stop requiring review' : 'Require review'),
          ),
        ),
        card('Rollouts', rolloutsTable(list(rollouts, 'rollouts'), showRollout)),
        h('div', { class: 'grid-2' }, card('Members', membersTable(list(members, 'members'))), card('Template', typeof group.template === 'string' ? h('pre', { class: 'code code-block' }, group.template) : h('p', { class: 'empty' }, 'No template yet.'))),
      );
    } catch (err) {
      if (!scope.closed) replace(body, errorBanner(err, () => void refresh()));
    }
  }
  const progress = scope.debounce(() => {
    void refresh();
    if (shownRollout) showRollout(shownRollout);
  });
  scope.onCleanup(live.on('rollout.progress', progress));
  scope.onCleanup(live.on('group.change', scope.debounce(() => changes.refresh())));
  void refresh();
  return () => scope.close();
}
