import type { FusionClient } from '../client.js';
import { usageError } from '../errors.js';
import type { CliIo } from '../io.js';

/** What every fustorctl command gets: the API client, the streams, its positional arguments and flags. */
export interface CommandContext {
  client: FusionClient;
  io: CliIo;
  /** Positional arguments after the command name. */
  args: string[];
  /** Flags, already checked against the command's own option list. */
  flags: Record<string, string | boolean | string[] | undefined>;
  /** `--json`: print the API's JSON instead of text. */
  json: boolean;
}

/** A fustorctl command: its flags (node:util parseArgs format), usage line and body; resolves with the exit code. */
export interface CliCommand {
  name: string;
  usage: string;
  summary: string;
  options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>;
  run(ctx: CommandContext): Promise<number>;
}

/** The one positional a command needs, or a usage error naming it. */
export function required(ctx: CommandContext, index: number, name: string, usage: string): string {
  const value = ctx.args[index];
  if (!value) throw usageError(`missing <${name}>; usage: fustorctl ${usage}`);
  return value;
}
