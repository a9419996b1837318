/**
 * The second half of an upgrade, in the process that runs after the restart.
 *
 * - The new version, once it got `welcome` (so Fusion has seen its hello with
 *   the new version), asks the launcher to commit the upgrade; only then is the
 *   command recorded `succeeded` and reported.
 * - A version started after a rollback records the command `failed` with the
 *   launcher's reason and reports it on its first connection.
 *
 * Until the new version knows the verdict, a redelivered `upgrade` command is
 * held back, so the command runner never answers it from the journal's
 * "started" entry; once released, the runner answers from the recorded outcome.
 */
import type { Logger } from '../../shared/logger.js';
import type { CommandFrame, CommandResultFrame } from '../../shared/protocol/index.js';
import type { CommandJournal } from '../commands/command-journal.js';
import type { LauncherLink } from '../launcher/launcher-link.js';
import { readUpgradeState, writeUpgradeState, type UpgradeState } from './upgrade-state.js';

export interface UpgradeCompletionOptions {
  home: string;
  /** The version this process runs. */
  version: string;
  journal: CommandJournal;
  launcher?: LauncherLink | undefined;
  /** Sends a frame on the live connection; false when there is none. */
  send(frame: CommandResultFrame): boolean;
  logger: Logger;
}

interface Awaiting {
  state: UpgradeState;
  released: Promise<void>;
  release(): void;
  confirming: boolean;
}

export class UpgradeCompletion {
  private awaiting: Awaiting | null = null;
  /** A result recorded before a connection existed, sent at the next `welcome`. */
  private unsent: CommandResultFrame | null = null;

  constructor(private readonly options: UpgradeCompletionOptions) {}

  /** Reads the upgrade record; call after the journal is loaded and before connecting. Never rejects. */
  async prepare(): Promise<void> {
    const { home, version, logger } = this.options;
    let state: UpgradeState | null;
    try {
      state = await readUpgradeState(home);
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'cannot read the upgrade record; its outcome is not reported');
      return;
    }
    if (!state || state.reported) return;
    if (state.phase === 'rolled_back') {
      await this.finish(state, { ok: false, error: `upgrade to ${state.to_version} rolled back to ${state.from_version}: ${state.reason ?? 'no reason recorded'}` });
    } else if (state.phase === 'committed' || !this.options.launcher) {
      // Committed earlier (this process was restarted since), or no launcher to ask: the running version decides.
      if (version === state.to_version) await this.finish({ ...state, phase: 'committed', finished_at: state.finished_at ?? Date.now() }, { ok: true });
      else await this.finish(state, { ok: false, error: `upgrade to ${state.to_version} did not take: this agent runs ${version}` });
    } else if (version !== state.to_version) {
      await this.finish(state, { ok: false, error: `the launcher started version ${version} instead of ${state.to_version}` });
    } else {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      this.awaiting = { state, released, release, confirming: false };
      logger.info({ command_id: state.command_id, version }, 'upgraded version on probation until it reaches Fusion');
    }
  }

  /** Runs a command frame now, or once the pending upgrade's outcome is recorded when it is that upgrade. */
  gate(frame: CommandFrame, run: () => Promise<void>): Promise<void> {
    const awaiting = this.awaiting;
    if (awaiting && frame.command_id === awaiting.state.command_id) return awaiting.released.then(run);
    return run();
  }

  /** A session with Fusion is established. Never rejects. */
  onWelcome(): void {
    if (this.unsent && this.options.send(this.unsent)) this.unsent = null;
    const awaiting = this.awaiting;
    if (!awaiting || awaiting.confirming) return;
    awaiting.confirming = true;
    this.confirm(awaiting).then(
      () => undefined,
      (err: unknown) => {
        awaiting.confirming = false;
        this.options.logger.error({ err: (err as Error).message }, 'cannot confirm the upgrade with the launcher; trying again at the next connection');
      },
    );
  }

  private async confirm(awaiting: Awaiting): Promise<void> {
    const { launcher, version, home } = this.options;
    const verdict = await launcher!.confirmHealthy(version);
    // The launcher has just written its verdict into the record: build on what it wrote.
    const onDisk = await readUpgradeState(home);
    const state = onDisk?.command_id === awaiting.state.command_id ? onDisk : awaiting.state;
    if (verdict === 'committed' || (state.phase === 'committed' && state.to_version === version)) {
      await this.finish({ ...state, phase: 'committed', finished_at: state.finished_at ?? Date.now() }, { ok: true });
    } else {
      await this.finish(state, { ok: false, error: `the launcher has no upgrade to ${state.to_version} on probation` });
    }
    this.awaiting = null;
    awaiting.release();
    if (this.unsent && this.options.send(this.unsent)) this.unsent = null;
  }

  /** Records the outcome in the journal (so a redelivery is answered from it), marks the record reported and queues the result. */
  private async finish(state: UpgradeState, outcome: { ok: true } | { ok: false; error: string }): Promise<void> {
    const id = state.command_id;
    if (outcome.ok) {
      const output = { version: state.to_version, previous_version: state.from_version, restarted: true };
      await this.options.journal.record(id, { state: 'succeeded', output });
      this.unsent = { type: 'command_result', command_id: id, status: 'succeeded', output };
      this.options.logger.info({ command_id: id, version: state.to_version }, 'upgrade succeeded');
    } else {
      await this.options.journal.record(id, { state: 'failed', error: outcome.error });
      this.unsent = { type: 'command_result', command_id: id, status: 'failed', error: outcome.error };
      this.options.logger.warn({ command_id: id, error: outcome.error }, 'upgrade failed');
    }
    await writeUpgradeState(this.options.home, { ...state, reported: true }).catch((err: unknown) => {
      this.options.logger.error({ err: (err as Error).message }, 'cannot mark the upgrade record reported');
    });
  }
}
