/**
 * Send a command to one agent and watch it finish: the form takes the
 * command's arguments, the result card follows its transitions live from the
 * event stream, and a long-poll makes sure the final state and output arrive
 * even when the stream is down.
 */
import { api, getJson } from '../api.js';
import { h, replace, table } from '../dom.js';
import { ago, commandBadge, dateTime, TERMINAL_COMMAND } from '../format.js';
import { toYaml } from '../yaml-tools.js';

const ARGS = {
  report_config: [],
  reload_config: [],
  scan: [
    { name: 'path', label: 'Path', placeholder: 'relative to the source root, e.g. projects/2024', required: true },
    { name: 'pipe', label: 'Pipe', placeholder: 'optional when the agent runs one pipe' },
    { name: 'recursive', label: 'Recursive', type: 'checkbox', checked: true },
  ],
  upgrade: [{ name: 'version', label: 'Version', placeholder: 'e.g. 0.2.0', required: true }],
};

const HELP = {
  report_config: 'Ask the agent for the config it really runs; drift shows when it differs from the desired one.',
  reload_config: 'Re-read every config source on the agent and reapply.',
  scan: 'Walk a path through a pipe\'s source and push what is found.',
  upgrade: 'Install another agent version served by Fusion, then restart.',
};

/** A command's states in the order they happen; the last four are terminal. */
const LIFECYCLE = ['queued', 'sent', 'acknowledged', 'succeeded', 'failed', 'expired', 'cancelled'];

export function commandPanel({ agentId, live, scope }) {
  const typeSelect = h('select', { name: 'type', 'data-command-type': '' }, Object.keys(ARGS).map((t) => h('option', { value: t }, t)));
  const argsBox = h('div', { class: 'form-args' });
  const help = h('p', { class: 'muted form-help' });
  const formError = h('div');
  const results = h('div', { class: 'command-results' });
  const history = h('div');

  const renderArgs = () => {
    help.textContent = HELP[typeSelect.value];
    replace(
      argsBox,
      ARGS[typeSelect.value].map((a) =>
        a.type === 'checkbox'
          ? h('label', { class: 'check' }, h('input', { type: 'checkbox', name: a.name, checked: a.checked }), a.label)
          : h('label', { class: 'field' }, h('span', {}, a.label), h('input', { type: 'text', name: a.name, placeholder: a.placeholder, required: a.required })),
      ),
    );
  };
  typeSelect.addEventListener('change', renderArgs);
  renderArgs();

  const form = h(
    'form',
    { class: 'form command-form', 'data-command-form': '' },
    h('label', { class: 'field' }, h('span', {}, 'Command'), typeSelect),
    argsBox,
    help,
    h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn btn-primary', 'data-action': 'send-command' }, 'Send command')),
    formError,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void send();
  });

  async function send() {
    const type = typeSelect.value;
    const args = {};
    for (const spec of ARGS[type]) {
      const input = form.elements.namedItem(spec.name);
      if (spec.type === 'checkbox') args[spec.name] = input.checked;
      else if (input.value.trim()) args[spec.name] = input.value.trim();
    }
    replace(formError);
    try {
      const { body } = await api(`/api/v1/management/agents/${encodeURIComponent(agentId)}/command`, { method: 'POST', body: { type, args } });
      results.prepend(resultCard(body));
      void refreshHistory();
    } catch (err) {
      replace(formError, h('div', { class: 'banner banner-error' }, err.message));
    }
  }

  function resultCard(record) {
    const statusSlot = h('span', {}, commandBadge(record.status));
    const timeline = h('ol', { class: 'timeline' });
    const output = h('div');
    const seen = new Set();
    // Transitions arrive from two channels (the event stream and the long-poll) in any order;
    // the timeline keeps lifecycle order, and the badge never steps back to an earlier state.
    const addStep = (status, at) => {
      if (seen.has(status)) return;
      seen.add(status);
      const rank = LIFECYCLE.indexOf(status);
      const step = h('li', { class: `step step-${status}`, 'data-step': status, 'data-rank': String(rank) }, h('span', { class: 'step-name' }, status), h('span', { class: 'muted' }, new Date(at).toLocaleTimeString()));
      const later = [...timeline.children].find((li) => Number(li.dataset.rank) > rank);
      timeline.insertBefore(step, later ?? null);
    };
    let shownRank = LIFECYCLE.indexOf(record.status);
    const setStatus = (status) => {
      const rank = LIFECYCLE.indexOf(status);
      if (rank < shownRank) return;
      shownRank = rank;
      card.dataset.status = status;
      replace(statusSlot, commandBadge(status));
    };
    addStep(record.status, record.created_at);
    const card = h(
      'div',
      { class: 'command-card', 'data-command-id': record.id, 'data-status': record.status },
      h('div', { class: 'command-card-head' }, h('strong', {}, record.type), statusSlot, h('code', { class: 'muted' }, record.id)),
      timeline,
      output,
    );
    const show = (r) => {
      setStatus(r.status);
      for (const t of r.transitions ?? []) addStep(t.status, t.at);
      if (TERMINAL_COMMAND.has(r.status)) {
        replace(
          output,
          r.error ? h('div', { class: 'banner banner-error' }, r.error) : null,
          r.output !== null && r.output !== undefined ? h('pre', { class: 'code code-output', 'data-command-output': '' }, toYaml(r.output)) : null,
        );
      }
    };
    const off = live.on('command.transition', (event) => {
      if (event.data.id !== record.id) return;
      addStep(event.data.status, event.at);
      setStatus(event.data.status);
    });
    scope.onCleanup(off);
    void follow(record.id, show).finally(off);
    return card;
  }

  /** Long-polls until the command is terminal or the view goes away. */
  async function follow(id, show) {
    while (!scope.closed) {
      try {
        const r = await getJson(`/api/v1/management/commands/${encodeURIComponent(id)}?wait=25`);
        show(r);
        if (TERMINAL_COMMAND.has(r.status)) {
          void refreshHistory();
          return;
        }
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    }
  }

  async function refreshHistory() {
    try {
      const { commands } = await getJson(`/api/v1/management/commands?agent_id=${encodeURIComponent(agentId)}&limit=20`);
      replace(
        history,
        table(
          [
            { label: 'Command', cell: (c) => c.type },
            { label: 'Status', cell: (c) => commandBadge(c.status) },
            { label: 'Created', cell: (c) => h('span', { title: dateTime(c.created_at) }, ago(c.created_at)) },
            { label: 'By', cell: (c) => c.author },
            { label: 'Error', cell: (c) => c.error ?? '' },
          ],
          commands,
          { empty: 'No commands sent to this agent yet.', name: 'agent-commands' },
        ),
      );
    } catch (err) {
      replace(history, h('div', { class: 'banner banner-error' }, err.message));
    }
  }
  void refreshHistory();
  scope.onCleanup(live.on('command.transition', (event) => {
    if (event.data.agent_id === agentId && TERMINAL_COMMAND.has(event.data.status)) void refreshHistory();
  }));

  return h('div', { class: 'command-panel' }, h('div', { class: 'split' }, form, results), h('h3', { class: 'subhead' }, 'Recent commands'), history);
}
