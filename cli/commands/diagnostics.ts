import { writeFile } from 'node:fs/promises';
import { CliError } from '../errors.js';
import { agentIdArg } from './agents.js';
import { waitTerminal } from './command.js';
import type { CliCommand } from './context.js';

const USAGE = 'diagnostics <agent> [--out FILE] [--log-lines N] [--timeout SECONDS]';

export const diagnosticsCommand: CliCommand = {
  name: 'diagnostics',
  usage: USAGE,
  summary: "ask an agent for a diagnostics bundle (log tail, versions, host facts, pipes, redacted config) and save it",
  options: { out: { type: 'string', short: 'o' }, 'log-lines': { type: 'string' }, timeout: { type: 'string' } },
  async run(ctx) {
    const id = agentIdArg(ctx, 0, USAGE);
    const logLines = ctx.flags['log-lines'] === undefined ? undefined : Number(ctx.flags['log-lines']);
    const timeout = ctx.flags.timeout === undefined ? 120 : Number(ctx.flags.timeout);
    const created = await ctx.client.json<any>(`/api/v1/management/agents/${encodeURIComponent(id)}/command`, {
      method: 'POST',
      contentType: 'application/json',
      body: JSON.stringify({ type: 'diagnostics', args: logLines === undefined ? {} : { log_lines: logLines } }),
    });
    ctx.io.stderr.write(`diagnostics ${created.id} ${created.status}; waiting up to ${timeout}s for ${id}...\n`);
    const done = await waitTerminal(ctx, created.id, timeout);
    if (done.status !== 'succeeded') throw new CliError(`diagnostics ${done.id} ${done.status}${done.error ? `: ${done.error}` : ''}`);
    const bundle = await ctx.client.request(done.output.download);
    const out = typeof ctx.flags.out === 'string' ? ctx.flags.out : undefined;
    if (out) {
      await writeFile(out, bundle.text, { mode: 0o600 });
      ctx.io.stdout.write(`${id}: ${done.output.bytes} bytes of diagnostics saved to ${out}\n`);
    } else ctx.io.stdout.write(`${bundle.text}\n`);
    return 0;
  },
};
