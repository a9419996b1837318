import { json } from '../format.js';
import { agentIdArg } from './agents.js';
import type { CliCommand } from './context.js';

const USAGE = 'decommission <agent> [--json]';

export const decommissionCommand: CliCommand = {
  name: 'decommission',
  usage: USAGE,
  summary: 'revoke an agent, disconnect it, cancel its open commands and forget it (the audit log keeps the trail)',
  options: {},
  async run(ctx) {
    const id = agentIdArg(ctx, 0, USAGE);
    const done = await ctx.client.json<any>(`/api/v1/management/agents/${encodeURIComponent(id)}`, { method: 'DELETE' });
    if (ctx.json) {
      ctx.io.stdout.write(json(done));
      return 0;
    }
    const parts = [
      `${done.revoked_credentials} credential(s) revoked`,
      done.disconnected ? 'disconnected' : 'was not connected',
      `${done.cancelled_commands} open command(s) cancelled`,
      ...(done.left_group ? [`left group ${done.left_group}`] : []),
      `${done.forgotten.config_revisions} config revision(s) forgotten`,
    ];
    ctx.io.stdout.write(`${id} decommissioned: ${parts.join(', ')}\n`);
    return 0;
  },
};
