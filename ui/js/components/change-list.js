/**
 * A group's reviewed changes waiting for a decision: who proposed what (a
 * template save, a roll back, or a member change: the member's variables and
 * override), its preview against the fleet as it is now, and Approve /
 * Reject (the author's own token cannot approve; Fusion says so).
 */
import { api, getJson } from '../api.js';
import { badge, errorBanner, h, replace, table } from '../dom.js';
import { ago, dateTime } from '../format.js';
import { previewPanel } from './preview-panel.js';

export function changeList({ group, onDecided }) {
  const root = h('div', { 'data-changes': '' });
  const detail = h('div');

  async function decide(change, verdict) {
    const id = change.id;
    const approved = change.kind === 'member' ? `approved; ${change.agent_id}'s config is pushed` : 'approved and rolling out';
    try {
      await api(`/api/v1/management/changes/${encodeURIComponent(id)}/${verdict}`, { method: 'POST', body: {} });
      replace(detail, h('p', { class: 'banner banner-info', 'data-decided': verdict }, `Change ${id} ${verdict === 'approve' ? approved : 'rejected'}.`));
      onDecided?.();
    } catch (err) {
      replace(detail, errorBanner(err));
    }
  }

  function show(change) {
    const stale = h('p', { class: 'banner banner-warn', hidden: true, 'data-stale': '' }, 'The group or this member changed since the change was made: it can no longer be approved; make it again.');
    const panel = previewPanel({
      load: async (offset, limit) => {
        const shown = await getJson(`/api/v1/management/changes/${encodeURIComponent(change.id)}?offset=${offset}&limit=${limit}`);
        stale.hidden = !shown.stale;
        return shown.preview;
      },
      actions: [
        h('button', { type: 'button', class: 'btn btn-primary', 'data-action': 'approve', onclick: () => void decide(change, 'approve') }, 'Approve'),
        h('button', { type: 'button', class: 'btn btn-danger', 'data-action': 'reject', onclick: () => void decide(change, 'reject') }, 'Reject'),
      ],
    });
    replace(detail, ...(change.kind === 'member' ? [memberSummary(change)] : []), stale, panel);
    panel.ready.catch((err) => replace(detail, errorBanner(err)));
  }

  async function refresh() {
    try {
      const { changes } = await getJson(`/api/v1/management/groups/${encodeURIComponent(group)}/changes?status=pending`);
      replace(
        root,
        table(
          [
            { label: 'Change', cell: (c) => h('button', { type: 'button', class: 'link-button', 'data-action': 'show-change', onclick: () => show(c) }, c.id) },
            { label: 'Kind', cell: kindBadge },
            { label: 'Against', cell: (c) => `r${c.base_revision}` },
            { label: 'Author', cell: (c) => c.author },
            { label: 'Proposed', cell: (c) => h('span', { title: dateTime(c.created_at) }, ago(c.created_at)) },
          ],
          changes,
          { empty: 'No change waits for review.', name: 'changes', rowData: (c) => ({ changeId: c.id }) },
        ),
        detail,
      );
    } catch (err) {
      replace(root, errorBanner(err, () => void refresh()));
    }
  }

  void refresh();
  return Object.assign(root, { refresh });
}

function kindBadge(c) {
  if (c.kind === 'rollback') return badge(`roll back to r${c.restored_from}`, 'warn');
  if (c.kind === 'member') return badge(`member ${c.agent_id}`, 'info');
  return badge('template', 'info');
}

/** What a member change sets: the member's variables and override as they would be. */
function memberSummary(change) {
  const vars = Object.entries(change.member?.variables ?? {});
  const override = change.member?.override ?? null;
  return h(
    'dl',
    { class: 'meta', 'data-member-change': change.agent_id },
    h('dt', {}, 'Member'),
    h('dd', {}, change.agent_id),
    h('dt', {}, 'Variables'),
    h('dd', {}, vars.length === 0 ? '-' : vars.map(([k, v]) => `${k}=${v}`).join(', ')),
    h('dt', {}, 'Override'),
    h('dd', {}, override === null ? '-' : h('pre', { class: 'code' }, JSON.stringify(override, null, 2))),
  );
}
