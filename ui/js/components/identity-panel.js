/**
 * An agent's identity: its live credentials (metadata only, never a secret)
 * with their expiry, a button that rotates the credential now, and one that
 * releases the agent id so it can be enrolled again (e.g. a reinstalled host).
 */
import { api, getJson } from '../api.js';
import { badge, errorBanner, h, load, replace, table } from '../dom.js';
import { ago, dateTime } from '../format.js';

export function identityPanel(agentId) {
  const base = `/api/v1/management/agents/${encodeURIComponent(agentId)}`;
  const message = h('div');
  const list = h('div');
  const refresh = () =>
    load(list, async () => {
      const { credentials, enrollment_request: request } = await getJson(`${base}/credentials`);
      return h(
        'div',
        {},
        table(
          [
            { label: 'Credential', cell: (c) => h('code', {}, c.id) },
            { label: 'Issued', cell: (c) => h('span', { title: dateTime(c.created_at) }, ago(c.created_at)) },
            { label: 'Expires', cell: (c) => (c.expires_at === null ? 'never' : dateTime(c.expires_at)) },
            { label: 'Rotation', cell: (c) => (c.rotate_requested_at ? badge('requested', 'warn', 'Rotated at the agent\'s next contact') : '—') },
          ],
          credentials,
          { empty: 'The agent holds no live credential: it may be enrolled with the enrollment token.', name: 'credentials' },
        ),
        request ? h('p', { class: 'muted', 'data-enrollment-state': request.state }, `Enrollment request: ${request.state}.`) : null,
      );
    });
  async function act(path, done) {
    try {
      const { body } = await api(`${base}/${path}`, { method: 'POST' });
      replace(message, h('div', { class: 'banner banner-ok', 'data-identity-result': path }, done(body)));
    } catch (err) {
      replace(message, errorBanner(err));
    }
    await refresh();
  }
  const rotate = h('button', { type: 'button', class: 'btn btn-small', 'data-action': 'rotate-credential', onclick: () => void act('rotate-credential', (b) => (b.sent_now ? 'Sent the agent its next credential.' : 'The agent gets its next credential at its next contact.')) }, 'Rotate credential');
  const release = h(
    'button',
    {
      type: 'button',
      class: 'btn btn-small btn-danger',
      'data-action': 'release',
      onclick: () => {
        if (confirm(`Release ${agentId}? Its credential ends now and the id may be enrolled again with the enrollment token.`)) {
          void act('release', (b) => `Released ${b.released_credentials} credential(s); the agent may enrol again.`);
        }
      },
    },
    'Release id',
  );
  void refresh();
  return h('div', { class: 'identity' }, h('div', { class: 'card-sub-head' }, h('h3', {}, 'Credentials'), h('span', { class: 'actions' }, rotate, ' ', release)), message, list);
}
