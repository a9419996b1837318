/**
 * Enrollment requests: agents that enrolled with a token needing approval
 * wait here as `pending` until an admin accepts or rejects them. A decided
 * request can be forgotten, so its agent id may ask again.
 */
import { api, getJson } from '../api.js';
import { badge, card, errorBanner, h, loading, replace, table } from '../dom.js';
import { ago, dateTime } from '../format.js';
import { createScope } from '../scope.js';

const TONES = { pending: 'warn', accepted: 'ok', rejected: 'bad' };

function actions(request, decide) {
  const button = (label, action, tone = '') =>
    h('button', { type: 'button', class: `btn btn-small ${tone}`, 'data-action': action, onclick: () => void decide(request.agent_id, action) }, label);
  if (request.state === 'pending') return h('span', { class: 'actions' }, button('Accept', 'accept', 'btn-primary'), ' ', button('Reject', 'reject', 'btn-danger'));
  return button('Forget', 'forget');
}

export function renderEnrollments(container) {
  const scope = createScope();
  const box = h('div', {}, loading());
  const message = h('div');
  replace(
    container,
    h('div', { class: 'page-head' }, h('h1', {}, 'Enrollments'), h('p', { class: 'muted' }, 'Agents waiting for approval before they get a credential (enrollment tokens with requires_approval, or approval mode).')),
    message,
    card('Enrollment requests', box),
  );

  async function decide(agentId, action) {
    const path = `/api/v1/management/enrollment-requests/${encodeURIComponent(agentId)}`;
    try {
      await api(action === 'forget' ? path : `${path}/${action}`, { method: action === 'forget' ? 'DELETE' : 'POST' });
      replace(message, h('div', { class: 'banner banner-ok', 'data-enrollment-result': action }, `${agentId}: ${action === 'accept' ? 'accepted; it is enrolled when it next asks' : action === 'reject' ? 'rejected' : 'forgotten'}.`));
    } catch (err) {
      replace(message, errorBanner(err));
    }
    await refresh();
  }

  async function refresh() {
    try {
      const { requests } = await getJson('/api/v1/management/enrollment-requests');
      if (scope.closed) return;
      replace(
        box,
        table(
          [
            { label: 'Agent', cell: (r) => h('span', { class: 'strong' }, r.agent_id) },
            { label: 'State', cell: (r) => badge(r.state, TONES[r.state] ?? 'muted') },
            { label: 'Host', cell: (r) => r.hostname ?? '—' },
            { label: 'Address', cell: (r) => h('span', { class: 'mono' }, r.address ?? '—'), class: 'hide-sm' },
            { label: 'Token', cell: (r) => h('code', {}, r.token_id), class: 'hide-sm' },
            { label: 'Asked', cell: (r) => h('span', { title: dateTime(r.requested_at) }, ago(r.requested_at)) },
            { label: 'Last asked', cell: (r) => h('span', { title: dateTime(r.last_seen) }, ago(r.last_seen)) },
            { label: 'Decided by', cell: (r) => r.decided_by ?? '—', class: 'hide-sm' },
            { label: '', cell: (r) => actions(r, decide) },
          ],
          requests,
          { empty: 'No enrollment request: no agent is waiting for approval.', name: 'enrollments', rowData: (r) => ({ agentId: r.agent_id, state: r.state }) },
        ),
      );
    } catch (err) {
      if (!scope.closed) replace(box, errorBanner(err, () => void refresh()));
    }
  }
  scope.every(() => void refresh(), 5_000);
  void refresh();
  return () => scope.close();
}
