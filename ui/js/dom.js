/**
 * A tiny DOM builder. Text always goes in as text nodes, never as HTML, so
 * nothing an agent or an admin typed can inject markup.
 *
 * h('a', { href: '#/x', class: 'link', onclick: fn }, 'text', child)
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'value') el.value = value;
    else if (key === 'checked') el.checked = Boolean(value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's content. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A status badge: tone is ok | warn | bad | muted | info. */
export function badge(text, tone = 'muted', title) {
  return h('span', { class: `badge badge-${tone}`, title }, text);
}

/** A table that scrolls sideways on narrow screens. `columns`: [{ label, cell(row) → node|string, class? }]. */
export function table(columns, rows, options = {}) {
  if (!rows.length) return h('p', { class: 'empty' }, options.empty ?? 'Nothing here yet.');
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'table', 'data-table': options.name },
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { class: c.class }, c.label)))),
      h(
        'tbody',
        {},
        rows.map((row) => h('tr', { dataset: options.rowData ? options.rowData(row) : {} }, columns.map((c) => h('td', { class: c.class, 'data-label': c.label }, c.cell(row))))),
      ),
    ),
  );
}

/** A titled card section. */
export function card(title, body, actions) {
  return h('section', { class: 'card' }, h('header', { class: 'card-head' }, h('h2', {}, title), actions ? h('div', { class: 'card-actions' }, actions) : null), h('div', { class: 'card-body' }, body));
}

export function loading(text = 'Loading…') {
  return h('p', { class: 'loading' }, text);
}

/** An error banner with an optional retry button. */
export function errorBanner(err, retry) {
  const message = err?.message ?? String(err);
  return h(
    'div',
    { class: 'banner banner-error', role: 'alert' },
    h('span', {}, message, err?.code ? h('code', { class: 'code-tag' }, err.code) : null),
    retry ? h('button', { type: 'button', class: 'btn btn-small', onclick: retry }, 'Retry') : null,
  );
}

/** Shows `loading` in `el` while `task` runs, then its result, or an error banner with retry. */
export async function load(el, task) {
  replace(el, loading());
  try {
    replace(el, await task());
  } catch (err) {
    replace(el, errorBanner(err, () => load(el, task)));
  }
}
