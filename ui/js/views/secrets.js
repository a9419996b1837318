/**
 * Secrets agent configs reference as `${secret:name}`: the list (name,
 * version, who wrote it last, which agents and groups use it), a form to
 * create one, and per secret a rotate form and a delete button. Values are
 * write-only: typed into password fields, sent once, cleared, and never
 * received from Fusion (its API has no route that returns one).
 */
import { api, getJson } from '../api.js';
import { badge, card, errorBanner, h, loading, replace, table } from '../dom.js';
import { ago, dateTime } from '../format.js';
import { createScope } from '../scope.js';

const BASE = '/api/v1/management/secrets';

function valueInput(name) {
  return h('input', { type: 'password', name, autocomplete: 'new-password', required: true, spellcheck: 'false', 'data-secret-value': '' });
}

function users(s) {
  const agents = s.users?.agents ?? [];
  const groups = s.users?.groups ?? [];
  if (!agents.length && !groups.length) return badge('unused', 'muted');
  return h(
    'span',
    { class: 'users' },
    groups.map((g) => [h('a', { href: `#/groups/${encodeURIComponent(g)}` }, `group ${g}`), ' ']),
    agents.slice(0, 8).map((a) => [h('a', { href: `#/agents/${encodeURIComponent(a)}` }, a), ' ']),
    agents.length > 8 ? `and ${agents.length - 8} more` : null,
  );
}

/** Sends a form's write; shows its error under it, and refreshes the list on success. */
function writeForm(form, error, send, done) {
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    replace(error);
    try {
      await send();
      form.reset();
      done();
    } catch (err) {
      replace(error, err.message, err.code ? h('code', { class: 'code-tag' }, err.code) : null);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

export function renderSecrets(container) {
  const scope = createScope();
  const body = h('div', {}, loading());
  const createError = h('div', { class: 'form-error', role: 'alert' });
  const nameInput = h('input', { type: 'text', name: 'name', required: true, pattern: '[A-Za-z0-9][A-Za-z0-9._-]{0,127}', placeholder: 'ingest-key', 'data-secret-name': '' });
  const createValue = valueInput('value');
  const createForm = writeForm(
    h(
      'form',
      { class: 'form', 'data-secret-create': '' },
      h('label', { class: 'field' }, h('span', {}, 'Name'), nameInput),
      h('label', { class: 'field' }, h('span', {}, 'Value'), createValue),
      createError,
      h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn btn-primary', 'data-action': 'create-secret' }, 'Create secret')),
    ),
    createError,
    () => api(BASE, { method: 'POST', body: { name: nameInput.value.trim(), value: createValue.value } }),
    () => void refresh(),
  );

  function rotateCell(s) {
    const error = h('div', { class: 'form-error', role: 'alert' });
    const input = valueInput('value');
    return writeForm(
      h('form', { class: 'inline-form', 'data-secret-rotate': s.name }, input, h('button', { type: 'submit', class: 'btn btn-small', 'data-action': 'rotate-secret' }, 'Rotate'), error),
      error,
      () => api(`${BASE}/${encodeURIComponent(s.name)}`, { method: 'PUT', body: { value: input.value } }),
      () => void refresh(),
    );
  }

  function deleteCell(s) {
    const error = h('span', { class: 'form-error', role: 'alert' });
    const button = h('button', { type: 'button', class: 'btn btn-small btn-danger', 'data-action': 'delete-secret' }, 'Delete');
    button.addEventListener('click', async () => {
      if (!window.confirm(`Delete secret ${s.name}? Configs can no longer reference it.`)) return;
      button.disabled = true;
      try {
        await api(`${BASE}/${encodeURIComponent(s.name)}`, { method: 'DELETE' });
        void refresh();
      } catch (err) {
        replace(error, err.message);
        button.disabled = false;
      }
    });
    return h('span', {}, button, ' ', error);
  }

  async function refresh() {
    try {
      const { secrets } = await getJson(BASE);
      if (scope.closed) return;
      replace(
        body,
        table(
          [
            { label: 'Name', cell: (s) => h('code', { class: 'strong' }, s.name) },
            { label: 'Reference', cell: (s) => h('code', {}, `\${secret:${s.name}}`) },
            { label: 'Version', cell: (s) => String(s.version), class: 'num' },
            { label: 'Updated', cell: (s) => h('span', { title: dateTime(s.updated_at) }, `${ago(s.updated_at)} by ${s.updated_by}`) },
            { label: 'Used by', cell: users },
            { label: 'Rotate', cell: rotateCell },
            { label: '', cell: deleteCell },
          ],
          secrets,
          { empty: 'No secrets yet.', name: 'secrets', rowData: (s) => ({ secret: s.name }) },
        ),
      );
    } catch (err) {
      if (!scope.closed) replace(body, errorBanner(err, () => void refresh()));
    }
  }

  replace(
    container,
    h(
      'div',
      { class: 'page-head' },
      h('h1', {}, 'Secrets'),
      h('p', { class: 'muted' }, 'Values agent configs and group templates reference as ${secret:name}. Stored encrypted; a value is never shown again. Rotating pushes the new value to every agent that uses it.'),
    ),
    card('All secrets', body),
    card('New secret', createForm),
  );
  void refresh();
  return () => scope.close();
}
