/**
 * A group's reviewed changes waiting for a decision: who proposed what,
 * its preview against the fleet as it is now, and Approve / Reject (the
 * author's own token cannot approve; Fusion says so).
 */
import { api, getJson } from '../api.js';
import { badge, errorBanner, h, replace, table } from '../dom.js';
import { ago, dateTime } from '../format.js';
import { previewPanel } from './preview-panel.js';

export function changeList({ group, onDecided }) {
  const root = h('div', { 'data-changes': '' });
  const detail = h('div');

  async function decide(id, verdict) {
    try {
      await api(`/api/v1/management/changes/${encodeURIComponent(id)}/${verdict}`, { method: 'POST', body: {} });
      replace(detail, h('p', { class: 'banner banner-info', 'data-decided': verdict }, `Change ${id} ${verdict === 'approve' ? 'approved and rolling out' : 'rejected'}.`));
      onDecided?.();
    } catch (err) {
      replace(detail, errorBanner(err));
    }
  }

  function show(change) {
    const panel = previewPanel({
      load: async (offset, limit) => (await getJson(`/api/v1/management/changes/${encodeURIComponent(change.id)}?offset=${offset}&limit=${limit}`)).preview,
      actions: [
        h('button', { type: 'button', class: 'btn btn-primary', 'data-action': 'approve', onclick: () => void decide(change.id, 'approve') }, 'Approve'),
        h('button', { type: 'button', class: 'btn btn-danger', 'data-action': 'reject', onclick: () => void decide(change.id, 'reject') }, 'Reject'),
      ],
    });
    replace(detail, panel);
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
            { label: 'Kind', cell: (c) => (c.kind === 'rollback' ? badge(`roll back to r${c.restored_from}`, 'warn') : badge('template', 'info')) },
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
