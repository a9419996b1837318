/**
 * The Fusion dashboard: a static page that talks only to the public
 * management API. Sign in with an admin token (kept in sessionStorage),
 * then the fleet, agents, Fusion's data plane, groups, enrollment approvals
 * and secrets, updated live from the event stream.
 */
import { renderWebhooks } from './views/webhooks.js';
import { onUnauthorized, session } from './api.js';
import { h, replace } from './dom.js';
import { LiveEvents } from './live.js';
import { createRouter } from './router.js';
import { renderAgent } from './views/agent.js';
import { renderEnrollments } from './views/enrollments.js';
import { renderFleet } from './views/fleet.js';
import { renderFusion } from './views/fusion.js';
import { renderGroup, renderGroups } from './views/groups.js';
import { renderSecrets } from './views/secrets.js';
import { renderSignIn } from './views/sign-in.js';

const view = document.getElementById('view');
const nav = document.getElementById('nav');
const sessionBox = document.getElementById('session');
const liveBadge = document.getElementById('live');

const LIVE_LABELS = { live: 'live', connecting: 'connecting', offline: 'offline' };
const live = new LiveEvents({
  onState(state) {
    liveBadge.dataset.state = state;
    liveBadge.querySelector('.live-label').textContent = LIVE_LABELS[state] ?? state;
  },
  onUnauthorized: () => signOut('Your token is no longer valid. Sign in again.'),
});

const router = createRouter(
  [
    { path: '/fleet', render: renderFleet },
    { path: '/agents/:id', render: renderAgent },
    { path: '/fusion', render: renderFusion },
    { path: '/groups', render: renderGroups },
    { path: '/groups/:name', render: renderGroup },
    { path: '/secrets', render: renderSecrets },
    { path: '/webhooks', render: renderWebhooks },
    { path: '/enrollments', render: renderEnrollments },
  ],
  {
    container: view,
    ctx: { live },
    guard: () => Boolean(session.token),
    notFound: (container, path) => replace(container, h('div', { class: 'banner banner-warn' }, `No page at ${path}. `, h('a', { href: '#/fleet' }, 'Go to the fleet'))),
  },
);

function signedIn(token) {
  session.token = token;
  nav.hidden = false;
  sessionBox.hidden = false;
  live.connect(token);
  if (!location.hash || location.hash === '#/') location.hash = '#/fleet';
  void router.render();
}

function signOut(message) {
  session.token = null;
  router.clear();
  live.close();
  nav.hidden = true;
  sessionBox.hidden = true;
  renderSignIn(view, { onSignedIn: signedIn });
  if (message) view.querySelector('form')?.prepend(h('div', { class: 'banner banner-warn' }, message));
}

onUnauthorized(() => signOut('Your token is no longer valid. Sign in again.'));
document.getElementById('sign-out').addEventListener('click', () => signOut());

if (session.token) signedIn(session.token);
else signOut();
