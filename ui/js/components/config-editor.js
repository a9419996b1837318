/**
 * A YAML config editor bound to one document on Fusion (an agent's desired
 * config, or fusion.yaml). It checks syntax while typing, shows Fusion's
 * validation issues inline with the line they point at, saves with If-Match,
 * and on a conflict (412) shows what the other save changed and lets the
 * admin choose: overwrite with their edits, or load the newer version.
 *
 * source: {
 *   load(): Promise<{ text, etag }>      // etag null when nothing is stored yet
 *   save(text, etag): Promise<{ etag, summary }>   // etag: the saved version's ETag, the next If-Match
 * }
 */
import { h, replace } from '../dom.js';
import { diffView } from '../diff.js';
import { issueLines, syntaxErrors } from '../yaml-tools.js';

export function configEditor({ source, onSaved, placeholder = '', name = 'config' }) {
  let baseText = '';
  let baseEtag = null;
  let checkTimer = null;
  // Fusion's verdict on a save stays on screen while the text is the one it
  // judged: the syntax check that follows typing must not wipe it.
  let verdict = null;

  const textarea = h('textarea', { class: 'editor-text', spellcheck: 'false', autocomplete: 'off', autocapitalize: 'off', 'aria-label': `${name} YAML`, placeholder, 'data-editor': name });
  const status = h('span', { class: 'editor-status muted' });
  const issuesBox = h('div', { class: 'editor-issues', 'data-issues': '' });
  const conflictBox = h('div', { class: 'editor-conflict' });
  const saveButton = h('button', { type: 'button', class: 'btn btn-primary', 'data-action': 'save', onclick: () => void save(baseEtag) }, 'Save');
  const revertButton = h('button', { type: 'button', class: 'btn', onclick: () => void load() }, 'Revert');
  const position = h('span', { class: 'muted editor-position' }, 'Ln 1');

  const root = h(
    'div',
    { class: 'editor' },
    conflictBox,
    h('div', { class: 'editor-frame' }, textarea),
    h('div', { class: 'editor-bar' }, h('div', { class: 'editor-buttons' }, saveButton, revertButton), position, status),
    issuesBox,
  );

  const dirty = () => textarea.value !== baseText;
  const refreshState = () => {
    saveButton.disabled = !dirty();
    status.textContent = dirty() ? 'Unsaved changes' : baseEtag ? 'Saved' : 'Nothing stored yet';
  };

  const checkSyntax = () => {
    checkTimer = null;
    const syntax = syntaxErrors(textarea.value).map((e) => ({ path: 'YAML', message: e.message, line: e.line }));
    if (syntax.length || verdict?.text !== textarea.value) showIssues(syntax);
    else showIssues(verdict.issues, verdict.heading);
  };
  textarea.addEventListener('input', () => {
    refreshState();
    clearTimeout(checkTimer);
    checkTimer = setTimeout(checkSyntax, 250);
  });
  const updatePosition = () => {
    position.textContent = `Ln ${textarea.value.slice(0, textarea.selectionStart).split('\n').length}`;
  };
  textarea.addEventListener('keyup', updatePosition);
  textarea.addEventListener('click', updatePosition);
  textarea.addEventListener('keydown', (e) => {
    // Tab indents with two spaces instead of leaving the editor.
    if (e.key === 'Tab' && !e.shiftKey) {
      e.preventDefault();
      textarea.setRangeText('  ', textarea.selectionStart, textarea.selectionEnd, 'end');
      textarea.dispatchEvent(new Event('input'));
    }
    if ((e.ctrlKey || e.metaKey) && e.key === 's') {
      e.preventDefault();
      if (dirty()) void save(baseEtag);
    }
  });

  function goToLine(line) {
    const lines = textarea.value.split('\n');
    const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
    textarea.focus();
    textarea.setSelectionRange(start, start + (lines[line - 1]?.length ?? 0));
    const lineHeight = parseFloat(getComputedStyle(textarea).lineHeight) || 18;
    textarea.scrollTop = Math.max(0, (line - 4) * lineHeight);
    updatePosition();
  }

  function showIssues(issues, heading) {
    if (!issues.length) {
      replace(issuesBox);
      return;
    }
    replace(
      issuesBox,
      h('p', { class: 'issues-head' }, heading ?? `${issues.length} problem(s)`),
      h(
        'ul',
        { class: 'issues' },
        issues.map((issue) =>
          h(
            'li',
            { class: 'issue', 'data-issue-path': issue.path },
            issue.line ? h('button', { type: 'button', class: 'issue-line', onclick: () => goToLine(issue.line), title: 'Go to line' }, `line ${issue.line}`) : h('span', { class: 'issue-line issue-line-none' }, '—'),
            h('code', { class: 'issue-path' }, issue.path),
            h('span', { class: 'issue-message' }, issue.message),
          ),
        ),
      ),
    );
  }

  async function load() {
    textarea.disabled = true;
    status.textContent = 'Loading…';
    replace(conflictBox);
    try {
      const loaded = await source.load();
      baseText = loaded.text;
      baseEtag = loaded.etag;
      verdict = null;
      textarea.value = loaded.text;
      showIssues([]);
    } catch (err) {
      showIssues([{ path: err.code ?? 'error', message: err.message }], 'Could not load the config');
    } finally {
      textarea.disabled = false;
      refreshState();
    }
  }

  async function save(ifMatch) {
    // A check still pending from the last keystroke would land after Fusion's answer and hide it.
    clearTimeout(checkTimer);
    checkTimer = null;
    const text = textarea.value;
    const syntax = syntaxErrors(text);
    if (syntax.length) {
      showIssues(syntax.map((e) => ({ path: 'YAML', message: e.message, line: e.line })), 'Fix the YAML syntax first');
      return;
    }
    saveButton.disabled = true;
    status.textContent = 'Saving…';
    try {
      const result = await source.save(text, ifMatch);
      baseText = text;
      baseEtag = result.etag;
      verdict = null;
      replace(conflictBox);
      showIssues([]);
      status.textContent = result.summary ?? 'Saved';
      onSaved?.(result);
    } catch (err) {
      if (err.status === 412) await showConflict(text);
      else if (Array.isArray(err.details)) {
        const lines = issueLines(text, err.details);
        verdict = { text, issues: err.details.map((d, i) => ({ ...d, line: lines[i] })), heading: err.message };
        showIssues(verdict.issues, verdict.heading);
      } else showIssues([{ path: err.code ?? 'error', message: err.message }], 'Not saved');
      status.textContent = 'Not saved';
    } finally {
      saveButton.disabled = !dirty();
    }
  }

  async function showConflict(mine) {
    let theirs;
    try {
      theirs = await source.load();
    } catch (err) {
      showIssues([{ path: err.code ?? 'error', message: err.message }], 'Someone else saved meanwhile, and the newer version cannot be loaded');
      return;
    }
    replace(
      conflictBox,
      h(
        'div',
        { class: 'banner banner-warn conflict', 'data-conflict': '' },
        h('div', {}, h('strong', {}, 'Someone else saved this config after you loaded it.'), ' Below is what their save changed. Your edits are still in the editor.'),
        diffView(baseText, theirs.text, { from: 'the version you loaded', to: 'the version saved meanwhile' }),
        h(
          'div',
          { class: 'conflict-actions' },
          h('button', { type: 'button', class: 'btn btn-danger', 'data-action': 'overwrite', onclick: () => void save(theirs.etag) }, 'Overwrite with my edits'),
          h(
            'button',
            {
              type: 'button',
              class: 'btn',
              'data-action': 'load-theirs',
              onclick: () => {
                baseText = theirs.text;
                baseEtag = theirs.etag;
                textarea.value = theirs.text;
                replace(conflictBox);
                showIssues([]);
                refreshState();
              },
            },
            'Discard my edits and load theirs',
          ),
        ),
        mine === theirs.text ? h('p', { class: 'muted' }, 'Their version is identical to your edits.') : null,
      ),
    );
  }

  void load();
  return Object.assign(root, {
    /** Replaces the editor text (e.g. with an older revision), keeping the loaded version as the If-Match base. */
    setText(text) {
      textarea.value = text;
      textarea.dispatchEvent(new Event('input'));
      textarea.focus();
    },
    reload: load,
  });
}
