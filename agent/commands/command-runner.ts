import type { Logger } from '../../shared/logger.js';
import { CommandArgs, parseCommandArgs, type CommandCancelFrame, type CommandFrame } from '../../shared/protocol/index.js';
import type { ControlChannel } from '../control/types.js';
import { COMMAND_HANDLERS, type CommandContext } from './command-handlers.js';
import type { CommandJournal } from './command-journal.js';

/**
 * Runs `command` frames: acknowledge on receipt, run, report the result.
 * The journal makes delivery idempotent: a repeated id is answered from what
 * was recorded, never run again. Results are sent on whatever connection is
 * live when the command finishes; if none is, Fusion redelivers the command on
 * the next connection and gets the stored result.
 */
export class CommandRunner {
  private readonly running = new Set<string>();

  constructor(
    private readonly journal: CommandJournal,
    private readonly context: CommandContext,
    private readonly logger: Logger,
  ) {}

  async onCommand(frame: CommandFrame, channel: ControlChannel): Promise<void> {
    const id = frame.command_id;
    const known = this.journal.get(id);
    if (this.running.has(id)) {
      channel.send({ type: 'command_ack', command_id: id });
      return;
    }
    if (known) {
      channel.send({ type: 'command_ack', command_id: id });
      if (known.state === 'succeeded') channel.send({ type: 'command_result', command_id: id, status: 'succeeded', output: known.output ?? null });
      else if (known.state === 'failed') channel.send({ type: 'command_result', command_id: id, status: 'failed', error: known.error ?? 'failed' });
      else if (known.state === 'cancelled') channel.send({ type: 'command_result', command_id: id, status: 'failed', error: 'cancelled before it ran' });
      else {
        const error = 'the agent restarted while this command was running; it is not run again';
        await this.journal.record(id, { state: 'failed', error });
        channel.send({ type: 'command_result', command_id: id, status: 'failed', error });
      }
      return;
    }
    if (frame.expires_at !== null && frame.expires_at <= Date.now()) {
      this.logger.info({ command_id: id }, 'command expired before it arrived; not run');
      return;
    }
    const parsed = parseCommandArgs(frame.command_type, frame.args);
    this.running.add(id);
    try {
      await this.journal.record(id, { state: 'started' });
      channel.send({ type: 'command_ack', command_id: id });
      // A type this agent does not know (a newer Fusion's) is acknowledged and failed, never dropped: the command ends at once instead of waiting to expire.
      if (!Object.hasOwn(CommandArgs, frame.command_type)) throw new Error(`unsupported command type "${frame.command_type}"`);
      if (!parsed.ok) throw new Error(`invalid args: ${parsed.errors.join('; ')}`);
      this.logger.info({ command_id: id, type: frame.command_type }, 'running command');
      const output = (await COMMAND_HANDLERS[parsed.type](parsed.args, this.context, id)) ?? null;
      await this.journal.record(id, { state: 'succeeded', output });
      this.context.send({ type: 'command_result', command_id: id, status: 'succeeded', output });
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      this.logger.warn({ command_id: id, type: frame.command_type, error }, 'command failed');
      await this.journal.record(id, { state: 'failed', error });
      this.context.send({ type: 'command_result', command_id: id, status: 'failed', error });
    } finally {
      this.running.delete(id);
    }
  }

  /** A cancelled command that has not started is remembered so it never runs. */
  async onCancel(frame: CommandCancelFrame): Promise<void> {
    if (this.running.has(frame.command_id) || this.journal.get(frame.command_id)) return;
    await this.journal.record(frame.command_id, { state: 'cancelled' });
  }
}
