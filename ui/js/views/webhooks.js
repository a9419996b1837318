/**
 * Webhooks: subscriptions (admin), the signing secret shown once when one is
 * created, a test ping, and each webhook's delivery log.
 */
import { api, getJson } from '../api.js';
import { badge, card, errorBanner, h, loading, replace, table } from '../dom.js';
import { ago, dateTime } from '../format.js';
import { createScope } from '../scope.js';

const DELIVERY_TONES = { pending: 'info', succeeded: 'ok', failed: 'bad' };

export function renderWebhooks(container) {
  const scope = createScope();
  const listBox = h('div', {}, loading());
  const deliveriesBox = h('div', {});
  const message = h('p', { class: 'form-error', role: 'alert', 'data-webhook-error': '' });
  const secretBox = h('div', {});
  const name = h('input', { class: 'search', placeholder: 'name', 'aria-label': 'Name', 'data-webhook-field': 'name' });
  const url = h('input', { class: 'search', placeholder: 'https://…', 'aria-label': 'URL', 'data-webhook-field': 'url' });
  const events = h('input', { class: 'search', placeholder: 'agent.offline, rollout.progress', 'aria-label': 'Event types', 'data-webhook-field': 'events' });
  const create = h('button', { type: 'button', class: 'btn btn-primary', 'data-action': 'create-webhook' }, 'Create');

  /** Only the answer to the latest request is shown: an older one may arrive after it. */
  let deliveriesSeq = 0;

  async function showDeliveries(hook) {
    const seq = ++deliveriesSeq;
    replace(deliveriesBox, loading());
    try {
      const { deliveries } = await getJson(`/api/v1/management/webhooks/${hook.id}/deliveries`);
      if (scope.closed || seq !== deliveriesSeq) return;
      replace(
        deliveriesBox,
        h('h3', { 'data-deliveries-of': hook.name }, `Deliveries of ${hook.name}`),
        table(
          [
            { label: 'Event', cell: (d) => d.event_type },
            { label: 'Status', cell: (d) => badge(d.status, DELIVERY_TONES[d.status]) },
            { label: 'Attempts', cell: (d) => String(d.attempts), class: 'num' },
            { label: 'Last answer', cell: (d) => d.last_error ?? (d.last_status ? `HTTP ${d.last_status}` : '—') },
            { label: 'Queued', cell: (d) => h('span', { title: dateTime(d.created_at) }, ago(d.created_at)) },
          ],
          deliveries,
          { empty: 'Nothing delivered yet.', name: 'deliveries', rowData: (d) => ({ status: d.status, event: d.event_type }) },
        ),
      );
    } catch (err) {
      if (!scope.closed && seq === deliveriesSeq) replace(deliveriesBox, errorBanner(err));
    }
  }

  async function refresh() {
    try {
      const { webhooks } = await getJson('/api/v1/management/webhooks');
      if (scope.closed) return;
      replace(
        listBox,
        table(
          [
            { label: 'Name', cell: (w) => w.name },
            { label: 'URL', cell: (w) => h('span', { class: 'mono' }, w.url) },
            { label: 'Events', cell: (w) => w.events.join(', ') },
            {
              label: '',
              cell: (w) =>
                h(
                  'span',
                  { class: 'card-actions' },
                  h('button', { type: 'button', class: 'btn btn-small', 'data-action': 'test', onclick: () => void act(() => api(`/api/v1/management/webhooks/${w.id}/test`, { method: 'POST' })).then(() => setTimeout(() => void showDeliveries(w), 500)) }, 'Send test'),
                  h('button', { type: 'button', class: 'btn btn-small', 'data-action': 'deliveries', onclick: () => void showDeliveries(w) }, 'Deliveries'),
                  h('button', { type: 'button', class: 'btn btn-small btn-danger', 'data-action': 'delete', onclick: () => void act(() => api(`/api/v1/management/webhooks/${w.id}`, { method: 'DELETE' })).then(refresh) }, 'Delete'),
                ),
            },
          ],
          webhooks,
          { empty: 'No webhooks yet.', name: 'webhooks', rowData: (w) => ({ webhookId: w.id, name: w.name }) },
        ),
      );
    } catch (err) {
      if (!scope.closed) replace(listBox, errorBanner(err, () => void refresh()));
    }
  }

  async function act(fn) {
    message.textContent = '';
    try {
      return await fn();
    } catch (err) {
      message.textContent = err.message;
      throw err;
    }
  }

  create.addEventListener('click', () => {
    const body = { name: name.value.trim(), url: url.value.trim(), events: events.value.split(',').map((e) => e.trim()).filter(Boolean) };
    void act(() => api('/api/v1/management/webhooks', { method: 'POST', body }))
      .then(({ body: hook }) => {
        replace(secretBox, h('div', { class: 'banner banner-warn', 'data-webhook-secret': '' }, h('strong', {}, 'Signing secret (shown once): '), h('code', {}, hook.secret)));
        name.value = url.value = events.value = '';
        return refresh();
      })
      .catch(() => undefined);
  });

  replace(
    container,
    h('div', { class: 'page-head' }, h('h1', {}, 'Webhooks'), h('p', { class: 'muted' }, 'Signed POSTs of Fusion events to your endpoints, retried with backoff.')),
    card('New webhook', h('div', {}, h('div', { class: 'filters' }, name, url, events, create), message, secretBox)),
    card('Webhooks', h('div', {}, listBox, deliveriesBox)),
  );
  void refresh();
  return () => scope.close();
}
