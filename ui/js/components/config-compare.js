/**
 * Desired, applied and reported config of one agent side by side, with a
 * diff of any two. The applied document is looked up in the agent's history
 * by its signature; one the agent runs from its own files is not in Fusion.
 */
import { ApiError, getJson } from '../api.js';
import { h, replace } from '../dom.js';
import { diffView } from '../diff.js';
import { ago, shortSig } from '../format.js';
import { toYaml } from '../yaml-tools.js';

async function orNull(promise) {
  try {
    return await promise;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

/** Loads the three documents of `agent` (an agent view from the API). */
export async function loadConfigs(agent) {
  const base = `/api/v1/management/agents/${encodeURIComponent(agent.agent_id)}/config`;
  const [desired, history, reported] = await Promise.all([orNull(getJson(base)), orNull(getJson(`${base}/history?limit=1000`)), orNull(getJson(`${base}/reported`))]);
  const appliedSig = agent.config.applied_signature ?? agent.config.running_signature;
  let applied = null;
  if (appliedSig) {
    if (desired?.signature === appliedSig) applied = desired;
    else {
      const rev = history?.revisions.find((r) => r.signature === appliedSig);
      if (rev) applied = await orNull(getJson(`${base}/history/${rev.revision}`));
    }
  }
  return {
    desired: desired && { signature: desired.signature, label: `revision ${desired.revision}`, text: toYaml(desired.document) },
    applied: appliedSig ? { signature: appliedSig, label: applied ? `revision ${applied.revision}` : `from ${agent.config.running_source ?? 'the agent'}`, text: applied ? toYaml(applied.document) : null } : null,
    reported: reported && { signature: reported.signature, label: `${reported.source}, ${ago(reported.reported_at)}`, text: reported.document ? toYaml(reported.document) : null },
  };
}

function column(title, entry, emptyText, key) {
  return h(
    'div',
    { class: 'compare-col', 'data-compare': key },
    h('div', { class: 'compare-head' }, h('h3', {}, title), entry ? h('code', { class: 'sig', title: entry.signature }, shortSig(entry.signature)) : null, entry ? h('span', { class: 'muted' }, entry.label) : null),
    entry?.text !== null && entry?.text !== undefined ? h('pre', { class: 'code compare-code' }, entry.text || '{}') : h('p', { class: 'empty' }, entry ? 'Document not stored in Fusion.' : emptyText),
  );
}

export function configCompare(configs) {
  const pairs = [
    ['desired', 'reported'],
    ['desired', 'applied'],
    ['applied', 'reported'],
  ].filter(([a, b]) => configs[a]?.text != null && configs[b]?.text != null);
  const diffBox = h('div', { class: 'compare-diff' });
  const select = h('select', { 'aria-label': 'Compare', 'data-diff-pair': '' }, pairs.map(([a, b]) => h('option', { value: `${a}:${b}` }, `${a} → ${b}`)));
  const showDiff = () => {
    const [a, b] = select.value.split(':');
    replace(diffBox, diffView(configs[a].text, configs[b].text, { from: a, to: b }));
  };
  select.addEventListener('change', showDiff);
  if (pairs.length) showDiff();
  return h(
    'div',
    { class: 'compare' },
    h(
      'div',
      { class: 'compare-grid' },
      column('Desired', configs.desired, 'No config stored for this agent.', 'desired'),
      column('Applied', configs.applied, 'Nothing applied yet.', 'applied'),
      column('Reported', configs.reported, 'Not reported yet: send report_config.', 'reported'),
    ),
    pairs.length
      ? h('div', { class: 'compare-diff-wrap' }, h('div', { class: 'compare-diff-head' }, h('h3', {}, 'Diff'), select), diffBox)
      : h('p', { class: 'muted' }, 'A diff appears once two of the documents are known.'),
  );
}
