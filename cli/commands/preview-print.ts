import { json, table } from '../format.js';
import type { CommandContext } from './context.js';

/** A dry run's answer (the fields printed here). */
export interface PreviewJson {
  counts: { total: number; changed: number; unchanged: number; invalid: number; offline: number };
  matching: number;
  offset: number;
  batch_count?: number;
  agents: Array<{
    agent_id: string;
    changed: boolean;
    valid: boolean;
    online: boolean;
    batch: number | null;
    errors: Array<{ path: string; message: string }>;
    diff?: string;
  }>;
}

/** The query of a dry run: `dry_run=true`, and the page (`--limit`, `--offset`) when given. */
export function dryRunQuery(flags: CommandContext['flags']): URLSearchParams {
  const query = new URLSearchParams({ dry_run: 'true' });
  for (const key of ['limit', 'offset'] as const) if (typeof flags[key] === 'string') query.set(key, flags[key]);
  return query;
}

/**
 * Prints what a change would do: the counts, one line per listed agent, then
 * the YAML diff of each agent it changes and the problems of each it would
 * refuse. Nothing was stored.
 */
export function printPreview(ctx: CommandContext, p: PreviewJson): void {
  if (ctx.json) {
    ctx.io.stdout.write(json(p));
    return;
  }
  const c = p.counts;
  const batches = p.batch_count !== undefined ? `, ${p.batch_count} batch(es)` : '';
  ctx.io.stdout.write(`dry run, nothing stored: ${c.total} agent(s): ${c.changed} changed, ${c.unchanged} unchanged, ${c.invalid} invalid, ${c.offline} offline${batches}\n`);
  if (p.agents.length === 0) return;
  ctx.io.stdout.write('\n');
  ctx.io.stdout.write(
    table(
      ['AGENT', 'CHANGE', 'ONLINE', 'BATCH'],
      p.agents.map((a) => [a.agent_id, !a.valid ? 'invalid' : a.changed ? 'changes' : 'unchanged', a.online ? 'yes' : 'no', a.batch === null ? '-' : String(a.batch)]),
    ),
  );
  if (p.matching > p.offset + p.agents.length) ctx.io.stdout.write(`(${p.matching - p.offset - p.agents.length} more: --offset ${p.offset + p.agents.length})\n`);
  for (const a of p.agents) {
    if (!a.valid) ctx.io.stdout.write(`\n${a.agent_id}: would be refused\n${a.errors.map((e) => `  ${e.path}: ${e.message}\n`).join('')}`);
    else if (a.changed && a.diff) ctx.io.stdout.write(`\n${a.agent_id}:\n${a.diff.split('\n').filter((l) => !l.startsWith('====')).join('\n')}`);
  }
}
