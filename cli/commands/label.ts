import { usageError } from '../errors.js';
import { json } from '../format.js';
import { agentIdArg, labelText } from './agents.js';
import type { CliCommand } from './context.js';

const USAGE = 'label (<agent> | --selector SEL) key=value... [key-]... [--json]';

/** `key=value` sets a label, `key-` removes one (as kubectl does: a leading dash would read as a flag). */
function parseLabelArgs(args: string[]): { set: Record<string, string>; remove: string[] } {
  const set: Record<string, string> = {};
  const remove: string[] = [];
  for (const arg of args) {
    if (arg.endsWith('-') && !arg.includes('=')) remove.push(arg.slice(0, -1));
    else {
      const eq = arg.indexOf('=');
      if (eq <= 0) throw usageError(`expected key=value or key-, got "${arg}"; usage: fustorctl ${USAGE}`);
      set[arg.slice(0, eq)] = arg.slice(eq + 1);
    }
  }
  if (!Object.keys(set).length && !remove.length) throw usageError(`nothing to change; usage: fustorctl ${USAGE}`);
  return { set, remove };
}

export const labelCommand: CliCommand = {
  name: 'label',
  usage: USAGE,
  summary: 'set (key=value) or remove (key-) labels of one agent, or of every agent a selector matches',
  options: { selector: { type: 'string', short: 'l' } },
  async run(ctx) {
    const selector = ctx.flags.selector;
    if (typeof selector === 'string') {
      const change = parseLabelArgs(ctx.args);
      const result = await ctx.client.json<any>('/api/v1/management/agents/labels', {
        method: 'POST',
        contentType: 'application/json',
        body: JSON.stringify({ selector, ...change }),
      });
      ctx.io.stdout.write(ctx.json ? json(result) : `${result.matched} agents match "${result.selector}"; labels changed on ${result.changed}\n`);
      return 0;
    }
    const id = agentIdArg(ctx, 0, USAGE);
    const change = parseLabelArgs(ctx.args.slice(1));
    const result = await ctx.client.json<any>(`/api/v1/management/agents/${encodeURIComponent(id)}/labels`, {
      method: 'PATCH',
      contentType: 'application/json',
      body: JSON.stringify(change),
    });
    ctx.io.stdout.write(ctx.json ? json(result) : `${id}: ${labelText(result.labels)}\n`);
    return 0;
  },
};
