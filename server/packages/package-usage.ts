/**
 * What still needs an agent package: `upgrade` commands naming its version
 * that are not finished, and upgrade rollouts of it that are not over. A
 * package in use is not deleted unless the admin forces it; a forced delete
 * first withdraws what can be withdrawn, so nothing fails later on a 404
 * that could have been avoided.
 */
import type { CommandService } from '../commands/command-service.js';
import type { CommandRecord } from '../commands/command-store.js';
import { HttpError } from '../http/errors.js';
import type { UpgradeRolloutEngine } from './upgrade-rollout-engine.js';
import type { UpgradeRolloutRecord, UpgradeRolloutStore } from './upgrade-rollout-store.js';

/** Commands listed in a 409's details at most (the message gives the full count). */
const MAX_LISTED_COMMANDS = 100;

/** The reason recorded on each command a forced delete cancels. */
export const PACKAGE_DELETED_REASON = 'package deleted';

/** What needs a package version now. */
export interface PackageUsage {
  /** `upgrade` commands naming the version: queued, sent or acknowledged (being run by the agent). */
  commands: CommandRecord[];
  /** Rollouts of the version that are running, or halted and so resumable. */
  rollouts: UpgradeRolloutRecord[];
}

/** What a forced delete did to the package's users. */
export interface PackageRelease {
  /** Commands cancelled (they were queued or sent), with the reason "package deleted". */
  cancelled_commands: string[];
  /**
   * Commands the agents had already acknowledged: they cannot be withdrawn and
   * run to their end (an agent that had not downloaded the package yet fails).
   */
  running_commands: string[];
  /** Rollouts halted (status_reason says the package was deleted). */
  halted_rollouts: string[];
}

export class PackageUsageGuard {
  constructor(private readonly deps: { commands: CommandService; rollouts: UpgradeRolloutEngine; rolloutStore: UpgradeRolloutStore }) {}

  async of(version: string): Promise<PackageUsage> {
    return { commands: await this.deps.commands.liveWithArg('upgrade', 'version', version), rollouts: await this.deps.rolloutStore.unfinishedOf(version) };
  }

  /** Throws 409 `package_in_use` when anything still needs the version. */
  async assertUnused(version: string): Promise<void> {
    const usage = await this.of(version);
    if (usage.commands.length === 0 && usage.rollouts.length === 0) return;
    throw inUse(version, usage);
  }

  /**
   * Halts the version's unfinished rollouts, then cancels its queued and sent
   * upgrade commands (halting first, so no cancelled command moves a rollout
   * on to a batch that would need the package).
   */
  async release(version: string): Promise<PackageRelease> {
    const usage = await this.of(version);
    const result: PackageRelease = { cancelled_commands: [], running_commands: [], halted_rollouts: [] };
    for (const rollout of usage.rollouts) {
      if (await this.deps.rollouts.halt(rollout.id, `package ${version} was deleted; upload it again before resuming`)) result.halted_rollouts.push(rollout.id);
    }
    for (const command of usage.commands) {
      if (command.status === 'acknowledged') {
        result.running_commands.push(command.id);
        continue;
      }
      try {
        await this.deps.commands.cancel(command.id, PACKAGE_DELETED_REASON);
        result.cancelled_commands.push(command.id);
      } catch (err) {
        if (!(err instanceof HttpError) || err.code !== 'not_cancellable') throw err;
        // Acknowledged or finished meanwhile.
        result.running_commands.push(command.id);
      }
    }
    return result;
  }
}

function inUse(version: string, usage: PackageUsage): HttpError {
  const needs: string[] = [];
  if (usage.commands.length) needs.push(`${usage.commands.length} upgrade command(s) not finished`);
  if (usage.rollouts.length) needs.push(`upgrade rollout(s) ${usage.rollouts.map((r) => `${r.id} (${r.status})`).join(', ')}`);
  const details = [
    ...usage.rollouts.map((r) => ({ kind: 'rollout', id: r.id, status: r.status })),
    ...usage.commands.slice(0, MAX_LISTED_COMMANDS).map((c) => ({ kind: 'command', id: c.id, agent_id: c.agent_id, status: c.status })),
  ];
  return new HttpError(
    409,
    'package_in_use',
    `package ${version} is still needed by ${needs.join(' and ')}; cancel them first, or delete with ?force=true to cancel the commands not yet acknowledged and halt the rollouts`,
    details,
  );
}
