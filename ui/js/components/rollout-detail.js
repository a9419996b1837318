/**
 * One rollout's members: batch, state, the time left of a soak and why a
 * member failed (a NACK, no answer, or unhealthy within its soak).
 */
import { getJson } from '../api.js';
import { badge, errorBanner, h, replace, table } from '../dom.js';

const STATE_TONES = { pending: 'muted', applying: 'info', soaking: 'warn', applied: 'ok', failed: 'bad', cancelled: 'muted' };

/** Members per page: the first page, and each "Show more". */
const PAGE = 200;

export function rolloutDetail(id) {
  const root = h('div', { 'data-rollout-detail': id }, h('p', { class: 'loading' }, 'Loading…'));
  const base = `/api/v1/management/rollouts/${encodeURIComponent(id)}?limit=${PAGE}`;
  const members = [];
  const render = (r) => {
    const more = r.next_cursor
      ? h('button', { type: 'button', class: 'btn btn-small', 'data-more-members': '', onclick: () => void load(r.next_cursor) }, `Show more (${members.length} of ${r.counts.total})`)
      : null;
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
        members,
        { empty: 'No members.', name: 'rollout-members', rowData: (a) => ({ agentId: a.agent_id, state: a.state }) },
      ),
      ...(more ? [more] : []),
    );
  };
  const load = (cursor) =>
    getJson(cursor ? `${base}&cursor=${encodeURIComponent(cursor)}` : base)
      .then((r) => {
        members.push(...(r.agents ?? []));
        render(r);
      })
      .catch((err) => replace(root, errorBanner(err)));
  void load(null);
  return root;
}
