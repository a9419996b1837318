import type { AgentToFusionFrame, CommandType } from '../../shared/protocol/index.js';
import type { PipeChange } from '../runtime/types.js';
import { diagnosticsBundle, type DiagnosticsSources } from './diagnostics.js';

/** What a command handler may use of the agent. */
export interface CommandContext {
  /** Re-reads every config source and reapplies it. */
  reload(): Promise<PipeChange>;
  /** The config the agent runs now. */
  effectiveConfig(): { signature: string | null; revision: number | null; source: 'remote' | 'cache' | 'local' | 'none'; document: Record<string, unknown> | null };
  /** Runs a scan through a pipe's source and pushes what it finds; resolves when Fusion has it all. */
  scan(args: { path: string; pipe?: string; recursive?: boolean }): Promise<Record<string, unknown>>;
  /** Installs another agent version and restarts; resolves only if the agent keeps running (it normally exits). */
  upgrade?(args: { version: string; sha256?: string; signature?: string }, commandId: string): Promise<Record<string, unknown>>;
  /** Sends a frame on the current connection. */
  send(frame: AgentToFusionFrame): boolean;
  /** What a diagnostics bundle reads besides the config: pipe status and the log tail. */
  diagnostics(): Pick<DiagnosticsSources, 'agentId' | 'pipes' | 'logLines' | 'controlPlane'>;
}

export type CommandHandler = (args: Record<string, unknown>, ctx: CommandContext, commandId: string) => Promise<unknown>;

/** The handler of every command type; each returns the command's output or throws its failure reason. */
export const COMMAND_HANDLERS: Record<CommandType, CommandHandler> = {
  async reload_config(_args, ctx) {
    const change = await ctx.reload();
    return { ...change, signature: ctx.effectiveConfig().signature, source: ctx.effectiveConfig().source };
  },

  async report_config(_args, ctx, commandId) {
    const config = ctx.effectiveConfig();
    const sent = ctx.send({ type: 'config_report', command_id: commandId, ...config });
    if (!sent) throw new Error('the connection closed before the report could be sent');
    return { signature: config.signature, revision: config.revision, source: config.source };
  },

  async scan(args, ctx) {
    return ctx.scan(args as { path: string; pipe?: string; recursive?: boolean });
  },

  async diagnostics(args, ctx) {
    const { log_lines: logLines } = args as { log_lines?: number };
    return diagnosticsBundle({ ...ctx.diagnostics(), config: ctx.effectiveConfig() }, logLines ?? 200);
  },

  async upgrade(args, ctx, commandId) {
    if (!ctx.upgrade) throw new Error('this agent was started without a package installer (run it under the fustor-agent launcher to upgrade)');
    return ctx.upgrade(args as { version: string; sha256?: string; signature?: string }, commandId);
  },
};
