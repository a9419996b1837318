/**
 * Plain-text rendering for fustorctl: aligned tables, short signatures and
 * relative times. `--json` bypasses all of it.
 */

/** Columns padded to their widest cell, two spaces apart; the header row first. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** `sha256:0123456789ab…` → `0123456789ab`; `-` when absent. */
export function shortSignature(signature: string | null | undefined): string {
  if (!signature) return '-';
  return signature.replace(/^sha256:/, '').slice(0, 12);
}

/** How long ago an epoch-ms time was: `just now`, `5s ago`, `3m ago`, `2h ago`, `4d ago`; `never` for null. */
export function ago(at: number | null | undefined, now = Date.now()): string {
  if (at === null || at === undefined) return 'never';
  if (now - at < 1000) return 'just now';
  return `${duration(Math.max(0, now - at))} ago`;
}

/** A duration in ms as `850ms`, `12s`, `3m`, `2h`, `4d`. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/** An ISO time for an epoch-ms value; `-` when absent. */
export function isoTime(at: number | null | undefined): string {
  return at === null || at === undefined ? '-' : new Date(at).toISOString();
}

/** `key: value` lines with the keys aligned. */
export function fields(pairs: Array<[string, string]>): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${v}`).join('\n') + '\n';
}

export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
