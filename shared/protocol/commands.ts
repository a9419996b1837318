import { z } from 'zod';
import { PackageSignature } from '../package/package-signature.js';

/**
 * The commands an admin can send an agent, each with the schema of its `args`.
 * Fusion validates args before storing a command; the agent validates them again before running it.
 */
export const CommandArgs = {
  /** Re-read every config source and reapply through the pipe runtime. */
  reload_config: z.object({}).strict(),
  /** Send the effective config (document, signature, source) back to Fusion. */
  report_config: z.object({}).strict(),
  /**
   * Walk `path` (relative to the pipe's source root) and push what is found, as a snapshot of
   * that subtree: Fusion then drops what the pipe had put there and the walk no longer found.
   * The result's output: `pipe`, `files`, `dirs`, `bytes`, `records`, `unreadable`, `removed`
   * (entries dropped from the view), `duration_ms`.
   */
  scan: z
    .object({
      /** What to walk: a path relative to the pipe's source root (`.` for the root), or an absolute path inside it. */
      path: z.string().min(1).max(4096),
      /** Pipe whose source is scanned; optional when the agent runs exactly one pipe. */
      pipe: z.string().min(1).optional(),
      /** Descend into sub-directories (default true). */
      recursive: z.boolean().optional(),
    })
    .strict(),
  /** Replace the running agent with package `version` served by Fusion. */
  upgrade: z
    .object({
      /** Version of an agent package uploaded to Fusion, e.g. "0.2.0". */
      version: z.string().min(1).max(64),
      /** sha256 (hex) Fusion recorded for the package; filled in by Fusion. */
      sha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
      /** Ed25519 signature (base64) uploaded with the package; filled in by Fusion. Agents that pin a key require it. */
      signature: PackageSignature.optional(),
    })
    .strict(),
  /**
   * Collect a diagnostics bundle — log tail, versions, host facts, pipe
   * status and the effective config with secrets redacted — and return it as
   * the result's output (at most DIAGNOSTICS_MAX_BYTES of JSON). Fusion
   * stores it apart and serves it for download.
   */
  diagnostics: z
    .object({
      /** Log lines to include, newest last (default 200). */
      log_lines: z.number().int().min(0).max(1000).optional(),
    })
    .strict(),
} as const;

/** Largest diagnostics bundle an agent sends, in bytes of JSON. */
export const DIAGNOSTICS_MAX_BYTES = 512 * 1024;

export type CommandType = keyof typeof CommandArgs;
/** Every command type Fusion can send today (the keys of CommandArgs). */
export const COMMAND_TYPES = Object.keys(CommandArgs) as CommandType[];
export const CommandType = z.enum(COMMAND_TYPES as [CommandType, ...CommandType[]]);

/** Lifecycle states of a command; the last four are terminal. */
export const CommandStatus = z.enum(['queued', 'sent', 'acknowledged', 'succeeded', 'failed', 'expired', 'cancelled']);
export type CommandStatus = z.infer<typeof CommandStatus>;
export const TERMINAL_COMMAND_STATUSES: ReadonlySet<CommandStatus> = new Set(['succeeded', 'failed', 'expired', 'cancelled']);

/** Validates `args` for a command type; returns the parsed args or a list of problems. */
export function parseCommandArgs(
  type: string,
  args: unknown,
): { ok: true; type: CommandType; args: Record<string, unknown> } | { ok: false; errors: string[] } {
  if (!(type in CommandArgs)) {
    return { ok: false, errors: [`unknown command type "${type}"; known: ${COMMAND_TYPES.join(', ')}`] };
  }
  const schema = CommandArgs[type as CommandType];
  const parsed = schema.safeParse(args ?? {});
  if (!parsed.success) {
    return {
      ok: false,
      errors: parsed.error.issues.map((i) => `args${i.path.length ? '.' + i.path.join('.') : ''}: ${i.message}`),
    };
  }
  return { ok: true, type: type as CommandType, args: parsed.data as Record<string, unknown> };
}
