/**
 * A group's template editor: the YAML, how the change rolls out (all at
 * once or in batches, soak, failures tolerated, what a halt does), a
 * Preview of every member it reaches, then Save. In a group that requires
 * review, Save proposes a change that another admin approves.
 */
import { api, etagOf } from '../api.js';
import { h } from '../dom.js';
import { configEditor } from './config-editor.js';

function field(label, input) {
  return h('label', { class: 'field' }, h('span', { class: 'muted' }, label), input);
}

/** The rollout strategy the form describes (absent fields are left to Fusion's defaults). */
function strategyOf(form) {
  const size = Number(form.batchSize.value);
  const soak = Number(form.soak.value);
  const max = form.maxFailures.value.trim();
  const strategy = size > 0 ? { strategy: 'batches', batch_size: size } : { strategy: 'all' };
  if (soak > 0) strategy.soak_seconds = soak;
  if (max !== '') strategy.max_failures = Number(max);
  if (form.rollback.checked) strategy.on_halt = 'rollback';
  return strategy;
}

export function groupTemplateEditor({ name, onSaved }) {
  const base = `/api/v1/management/groups/${encodeURIComponent(name)}`;
  const form = {
    batchSize: h('input', { type: 'number', min: '0', value: '0', class: 'input-small', 'data-field': 'batch-size', title: '0: all at once' }),
    soak: h('input', { type: 'number', min: '0', value: '0', class: 'input-small', 'data-field': 'soak-seconds' }),
    maxFailures: h('input', { type: 'number', min: '0', value: '', class: 'input-small', 'data-field': 'max-failures', placeholder: 'default' }),
    rollback: h('input', { type: 'checkbox', 'data-field': 'on-halt-rollback' }),
  };
  const source = {
    async load() {
      const res = await api(`${base}/template`, { accept: 'application/yaml' });
      return { text: res.body, etag: etagOf(res.headers) };
    },
    async preview(text, etag, offset, limit) {
      const headers = etag ? { 'if-match': `"${etag}"` } : {};
      return (await api(`${base}/template?dry_run=true&offset=${offset}&limit=${limit}`, { method: 'PUT', body: { template: text, rollout: strategyOf(form) }, headers })).body;
    },
    async save(text, etag) {
      const headers = etag ? { 'if-match': `"${etag}"` } : {};
      const { status, body, headers: answered } = await api(`${base}/template`, { method: 'PUT', body: { template: text, rollout: strategyOf(form) }, headers });
      // A proposed change stores nothing: the template the editor was loaded from stays the If-Match base.
      if (status === 202) return { etag, summary: `Change ${body.change.id} waits for another admin's review; nothing was rolled out.` };
      return { etag: etagOf(answered), summary: `Saved revision ${body.revision}${body.rollout ? `; rollout ${body.rollout.id} started` : ''}.` };
    },
  };
  const editor = configEditor({ source, name: 'group-template', onSaved });
  return h(
    'div',
    { class: 'group-editor' },
    h(
      'div',
      { class: 'strategy-form', 'data-strategy-form': '' },
      field('Batch size', form.batchSize),
      field('Soak (s)', form.soak),
      field('Max failures', form.maxFailures),
      h('label', { class: 'field field-check' }, form.rollback, h('span', {}, 'Roll back on halt')),
    ),
    editor,
  );
}
