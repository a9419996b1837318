/** Asks for an admin token once per browser tab; it is checked against Fusion before it is kept. */
import { api } from '../api.js';
import { h, replace } from '../dom.js';

export function renderSignIn(container, { onSignedIn }) {
  const input = h('input', { type: 'password', name: 'token', id: 'token', autocomplete: 'off', placeholder: 'fadm_…', required: true, 'data-token-input': '' });
  const error = h('div', { class: 'form-error', role: 'alert' });
  const button = h('button', { type: 'submit', class: 'btn btn-primary btn-block', 'data-action': 'sign-in' }, 'Sign in');
  const form = h(
    'form',
    { class: 'signin-card card', 'data-signin': '' },
    h('h1', {}, 'Sign in to Fusion'),
    h('p', { class: 'muted' }, 'Paste an admin token. It is kept in this browser tab only and sent to Fusion with each request.'),
    h('label', { class: 'field', for: 'token' }, h('span', {}, 'Admin token'), input),
    error,
    button,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    button.disabled = true;
    button.textContent = 'Checking…';
    replace(error);
    try {
      await api('/api/v1/management/dashboard', { token });
      onSignedIn(token);
    } catch (err) {
      replace(error, err.status === 401 ? 'That token is unknown, expired or revoked.' : err.message);
      button.disabled = false;
      button.textContent = 'Sign in';
    }
  });
  replace(container, h('div', { class: 'signin' }, form));
  input.focus();
}
