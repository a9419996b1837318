/**
 * An agent's Manage tab: its health with the reasons, the labels admins set
 * (add, remove) beside the attributes it reports, diagnostics bundles
 * (collect one, download any), and decommissioning.
 */
import { api, getJson } from '../api.js';
import { badge, errorBanner, h, replace, table } from '../dom.js';
import { ago, dateTime } from '../format.js';

const HEALTH_TONES = { healthy: 'ok', degraded: 'warn', unhealthy: 'bad' };

function pairs(map, onRemove) {
  const entries = Object.entries(map ?? {});
  if (!entries.length) return h('p', { class: 'muted' }, 'None.');
  return h(
    'ul',
    { class: 'pairs' },
    entries.map(([k, v]) =>
      h('li', { 'data-label': k }, h('code', {}, `${k}=${v}`), onRemove ? h('button', { type: 'button', class: 'btn btn-small', 'data-remove-label': k, onclick: () => onRemove(k) }, 'Remove') : null),
    ),
  );
}

/** Downloads a bundle through the API (the token goes in a header, so a plain link cannot). */
async function download(path, name) {
  const { body } = await api(path, { accept: 'application/json' });
  const url = URL.createObjectURL(new Blob([JSON.stringify(body, null, 2)], { type: 'application/json' }));
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function agentManagePanel({ agent, onChanged, scope }) {
  const id = agent.agent_id;
  const base = `/api/v1/management/agents/${encodeURIComponent(id)}`;
  const message = h('p', { class: 'form-error', role: 'alert', 'data-manage-error': '' });
  const labelsBox = h('div', {});
  const bundlesBox = h('div', {});
  const diagStatus = h('p', { class: 'muted', 'data-diagnostics-status': '' });

  const fail = (err) => {
    message.textContent = err?.message ?? String(err);
  };
  async function changeLabels(change) {
    message.textContent = '';
    try {
      await api(`${base}/labels`, { method: 'PATCH', body: change });
      onChanged();
    } catch (err) {
      fail(err);
    }
  }
  replace(labelsBox, pairs(agent.labels, (key) => void changeLabels({ remove: [key] })));

  const labelInput = h('input', { class: 'search', placeholder: 'key=value', 'aria-label': 'New label', 'data-label-input': '' });
  const addLabel = h('button', { type: 'button', class: 'btn', 'data-action': 'add-label' }, 'Add label');
  addLabel.addEventListener('click', () => {
    const text = labelInput.value.trim();
    const eq = text.indexOf('=');
    if (eq <= 0) return fail(new Error('write a label as key=value'));
    void changeLabels({ set: { [text.slice(0, eq)]: text.slice(eq + 1) } });
  });

  async function showBundles() {
    try {
      const { bundles } = await getJson(`${base}/diagnostics`);
      if (scope.closed) return;
      replace(
        bundlesBox,
        table(
          [
            { label: 'Collected', cell: (b) => h('span', { title: dateTime(b.created_at) }, ago(b.created_at)) },
            { label: 'Size', cell: (b) => `${Math.ceil(b.bytes / 1024)} KiB` },
            { label: '', cell: (b) => h('button', { type: 'button', class: 'btn btn-small', 'data-download': b.command_id, onclick: () => void download(`/api/v1/management/diagnostics/${b.command_id}`, `diagnostics-${id}-${b.command_id}.json`).catch(fail) }, 'Download') },
          ],
          bundles,
          { empty: 'No bundle collected yet.', name: 'bundles', rowData: (b) => ({ commandId: b.command_id }) },
        ),
      );
    } catch (err) {
      replace(bundlesBox, errorBanner(err));
    }
  }
  void showBundles();

  const collect = h('button', { type: 'button', class: 'btn', 'data-action': 'collect-diagnostics' }, 'Collect diagnostics');
  collect.addEventListener('click', async () => {
    message.textContent = '';
    collect.disabled = true;
    try {
      const { body: created } = await api(`${base}/command`, { method: 'POST', body: { type: 'diagnostics', args: {} } });
      diagStatus.textContent = `Asked the agent (command ${created.id})…`;
      for (let i = 0; i < 10 && !scope.closed; i++) {
        const command = await getJson(`/api/v1/management/commands/${created.id}?wait=30`);
        if (command.status === 'succeeded') {
          diagStatus.textContent = `Bundle collected (${Math.ceil(command.output.bytes / 1024)} KiB).`;
          await showBundles();
          return;
        }
        if (['failed', 'expired', 'cancelled'].includes(command.status)) {
          diagStatus.textContent = `The agent did not send a bundle: ${command.status}${command.error ? ` — ${command.error}` : ''}`;
          return;
        }
      }
    } catch (err) {
      fail(err);
    } finally {
      collect.disabled = false;
    }
  });

  const confirmInput = h('input', { class: 'search', placeholder: `type ${id} to confirm`, 'aria-label': 'Confirm the agent id', 'data-confirm-input': '' });
  const decommission = h('button', { type: 'button', class: 'btn btn-danger', 'data-action': 'decommission' }, 'Decommission');
  decommission.addEventListener('click', async () => {
    if (confirmInput.value.trim() !== id) return fail(new Error(`type the agent id (${id}) to confirm`));
    try {
      await api(base, { method: 'DELETE' });
      location.hash = '#/fleet';
    } catch (err) {
      fail(err);
    }
  });

  return h(
    'div',
    { class: 'manage', 'data-manage': '' },
    message,
    h('h3', {}, 'Health'),
    h('p', { 'data-health': agent.health.status }, badge(agent.health.status, HEALTH_TONES[agent.health.status]), ' ', agent.health.reasons.join('; ') || 'Nothing to report.'),
    h('h3', {}, 'Labels'),
    h('p', { class: 'muted' }, 'Set by admins; selectors choose agents by these.'),
    labelsBox,
    h('div', { class: 'card-actions' }, labelInput, addLabel),
    h('h3', {}, 'Attributes'),
    h('p', { class: 'muted' }, 'What the agent says about itself: shown, never trusted for choosing agents.'),
    pairs(agent.attributes),
    h('h3', {}, 'Diagnostics'),
    h('p', { class: 'muted' }, 'Log tail, versions, host facts, pipes and the config with secrets redacted.'),
    h('div', { class: 'card-actions' }, collect),
    diagStatus,
    bundlesBox,
    h('h3', {}, 'Decommission'),
    h('p', { class: 'muted' }, 'Revokes the agent, disconnects it, cancels its open commands and forgets it. The audit log keeps the trail.'),
    h('div', { class: 'card-actions' }, confirmInput, decommission),
  );
}
