import { parseArgs } from 'node:util';
import { FusionClient, clientSettings } from './client.js';
import { agentCommand, agentsCommand } from './commands/agents.js';
import { auditCommand } from './commands/audit.js';
import { changeCommand, changesCommand } from './commands/change.js';
import { groupCommand } from './commands/group.js';
import { cancelCommand, commandCommand, commandsCommand } from './commands/command.js';
import { configCommand } from './commands/config.js';
import { decommissionCommand } from './commands/decommission.js';
import { diagnosticsCommand } from './commands/diagnostics.js';
import { credentialCommand, enrollmentsCommand } from './commands/identity.js';
import { labelCommand } from './commands/label.js';
import { memberCommand } from './commands/member.js';
import { webhookCommand } from './commands/webhook.js';
import { secretCommand } from './commands/secret.js';
import type { CliCommand } from './commands/context.js';
import { fusionCommand } from './commands/fusion.js';
import { packagesCommand } from './commands/packages.js';
import { replicasCommand } from './commands/replicas.js';
import { rolloutCommand } from './commands/rollout.js';
import { sessionsCommand } from './commands/sessions.js';
import { tokensCommand } from './commands/tokens.js';
import { upgradeCommand, upgradesCommand } from './commands/upgrades.js';
import { watchCommand } from './commands/watch.js';
import { CliError, usageError } from './errors.js';
import type { CliIo } from './io.js';

export type { CliIo } from './io.js';

export const COMMANDS: readonly CliCommand[] = [
  agentsCommand,
  agentCommand,
  labelCommand,
  decommissionCommand,
  webhookCommand,
  diagnosticsCommand,
  configCommand,
  groupCommand,
  memberCommand,
  rolloutCommand,
  changesCommand,
  changeCommand,
  commandCommand,
  commandsCommand,
  cancelCommand,
  sessionsCommand,
  watchCommand,
  fusionCommand,
  replicasCommand,
  tokensCommand,
  packagesCommand,
  upgradeCommand,
  upgradesCommand,
  auditCommand,
  enrollmentsCommand,
  credentialCommand,
  secretCommand,
];

const GLOBAL_OPTIONS = {
  json: { type: 'boolean' },
  url: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function usage(): string {
  return [
    'Usage: fustorctl <command> [arguments] [--json] [--url URL]',
    '',
    'Commands:',
    ...COMMANDS.flatMap((c) => [`  ${c.usage}`, `      ${c.summary}`]),
    '',
    'Environment:',
    '  FUSION_URL    Fusion base URL (default http://127.0.0.1:8102; --url overrides)',
    '  FUSION_TOKEN  admin token (required)',
    '',
    'Exit status: 0 success, 1 error (API, network, failed command), 2 usage error.',
    '',
  ].join('\n');
}

/** The single-letter options of a command (with the global ones). */
function shortOptions(command: CliCommand): Record<string, true> {
  const all = { ...GLOBAL_OPTIONS, ...command.options } as Record<string, { short?: string }>;
  return Object.fromEntries(Object.values(all).flatMap((o) => (o.short ? [[o.short, true] as const] : [])));
}

/**
 * Runs one fustorctl invocation and resolves with its exit status. Nothing
 * throws out: every failure becomes a message on stderr (`fustorctl: ...`)
 * and a non-zero status.
 */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  try {
    const name = argv[0];
    if (!name || name === 'help' || name === '--help' || name === '-h') {
      io.stdout.write(usage());
      return name ? 0 : 2;
    }
    const command = COMMANDS.find((c) => c.name === name);
    if (!command) throw usageError(`unknown command "${name}"; run fustorctl --help`);
    let parsed;
    try {
      parsed = parseArgs({ args: argv.slice(1), options: { ...GLOBAL_OPTIONS, ...command.options }, allowPositionals: true, strict: true });
    } catch (err) {
      const dashed = argv.slice(1).find((a) => /^-[^-]/.test(a) && a.length > 2 && !(a.slice(1) in shortOptions(command)));
      const hint = dashed ? `; an argument that starts with "-" goes after "--": fustorctl ${name} -- ${dashed}` : '';
      throw usageError(`${(err as Error).message}${hint}; usage: fustorctl ${command.usage}`);
    }
    const { json, url, help, ...flags } = parsed.values as Record<string, string | boolean | string[] | undefined>;
    if (help) {
      io.stdout.write(`Usage: fustorctl ${command.usage}\n  ${command.summary}\n`);
      return 0;
    }
    const client = new FusionClient(clientSettings(io.env, typeof url === 'string' ? url : undefined));
    return await command.run({ client, io, args: parsed.positionals, flags, json: json === true });
  } catch (err) {
    if (err instanceof CliError) {
      io.stderr.write(`fustorctl: ${err.message}${err.code && err.exitCode === 1 ? ` [${err.code}]` : ''}\n`);
      for (const line of err.details) io.stderr.write(`  ${line}\n`);
      return err.exitCode;
    }
    if ((err as Error).name === 'AbortError') {
      io.stderr.write('fustorctl: interrupted\n');
      return 130;
    }
    io.stderr.write(`fustorctl: unexpected error: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
