/**
 * One rollout's members: batch, state, the time left of a soak and why a
 * member failed (a NACK, no answer, or unhealthy within its soak).
 */
import { getJson } from '../api.js';
import { badge, errorBanner, h, replace, table } from '../dom.js';

const STATE_TONES = { pending: 'muted', applying: 'info', soaking: 'warn', applied: 'ok', failed: 'bad', cancelled: 'muted' };

export function rolloutDetail(id) {
  const root = h('div', { 'data-rollout-detail': id }, h('p', { class: 'loading' }, 'Loading…'));
  void getJson(`/api/v1/management/rollouts/${encodeURIComponent(id)}`)
    .then((r) =>
      replace(
        root,
        h('p', { class: 'muted' }, `Rollout ${r.id}: ${r.status}${r.status_reason ? ` — ${r.status_reason}` : ''}`),
        table(
          [
            { label: 'Agent', cell: (a) => h('a', { href: `#/agents/${encodeURIComponent(a.agent_id)}` }, a.agent_id) },
            { label: 'Batch', cell: (a) => a.batch, class: 'num' },
            { label: 'State', cell: (a) => badge(a.state, STATE_TONES[a.state] ?? 'muted') },
            { label: 'Soak', cell: (a) => (a.state === 'soaking' ? `${a.soak_remaining_seconds} s left` : '—') },
            { label: 'Reason', cell: (a) => a.error ?? '' },
          ],
          r.agents ?? [],
          { empty: 'No members.', name: 'rollout-members', rowData: (a) => ({ agentId: a.agent_id, state: a.state }) },
        ),
      ),
    )
    .catch((err) => replace(root, errorBanner(err)));
  return root;
}
