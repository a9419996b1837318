import { badge, h } from './dom.js';

/** `sha256:0123…` → first 12 hex digits. */
export function shortSig(signature) {
  return signature ? signature.replace(/^sha256:/, '').slice(0, 12) : '—';
}

/** A signature as a short code chip with the full value on hover; a muted dash when there is none. */
export function sigCode(signature, attrs = {}) {
  if (!signature) return h('span', { class: 'muted', ...attrs }, '—');
  return h('code', { class: 'sig', title: signature, ...attrs }, shortSig(signature));
}

export function duration(ms) {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

export function ago(at, now = Date.now()) {
  if (at === null || at === undefined) return 'never';
  if (now - at < 2000) return 'just now';
  return `${duration(now - at)} ago`;
}

export function dateTime(at) {
  if (at === null || at === undefined) return '—';
  return new Date(at).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export function bytes(n) {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function count(n) {
  return Number(n ?? 0).toLocaleString();
}

const CONFIG_TONES = { applied: 'ok', pending: 'warn', applying: 'info', failed: 'bad' };
export function configBadge(status, error) {
  if (!status) return badge('no config', 'muted');
  return badge(status, CONFIG_TONES[status] ?? 'muted', error ?? undefined);
}

export function onlineBadge(online) {
  return badge(online ? 'online' : 'offline', online ? 'ok' : 'muted');
}

const COMMAND_TONES = { queued: 'muted', sent: 'info', acknowledged: 'info', succeeded: 'ok', failed: 'bad', expired: 'warn', cancelled: 'muted' };
export function commandBadge(status) {
  return badge(status, COMMAND_TONES[status] ?? 'muted');
}

const PIPE_TONES = { RUNNING: 'ok', STOPPED: 'muted', ERROR: 'bad', running: 'ok', starting: 'info', error: 'bad', stopped: 'muted' };
export function pipeBadge(state, reason) {
  return badge(state, PIPE_TONES[state] ?? 'muted', reason ?? undefined);
}

export const TERMINAL_COMMAND = new Set(['succeeded', 'failed', 'expired', 'cancelled']);
