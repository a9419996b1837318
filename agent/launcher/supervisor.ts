/**
 * The launcher's supervision loop. It runs the agent `current` names and:
 *
 * - restarts it when it exits with RESTART_FOR_UPGRADE_EXIT_CODE (it switched
 *   `current` to a new version);
 * - keeps a freshly switched version on probation: it must report that it
 *   reached Fusion within `healthTimeoutMs`. If it exits first, or the time
 *   runs out (it is then stopped), `current` is pointed back to the previous
 *   version, the reason is recorded in upgrade.json and the previous version is
 *   started, which then reports the upgrade as failed;
 * - otherwise ends when the agent ends, with the agent's exit status, so the
 *   service manager that runs the launcher sees what the agent did.
 */
import type { Logger } from '../../shared/logger.js';
import { readUpgradeState, writeUpgradeState, type UpgradeState } from '../upgrade/upgrade-state.js';
import { readCurrentVersion, switchCurrentVersion } from '../upgrade/version-pointer.js';
import { constants } from 'node:os';
import { resolveAgent, type AgentEntry } from './agent-entry.js';
import { AgentProcess, type ProcessEnd } from './agent-process.js';
import { HealthyMessage, RESTART_FOR_UPGRADE_EXIT_CODE } from './launcher-protocol.js';

export interface SupervisorOptions {
  home: string;
  /** Command-line arguments passed to every agent. */
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  /** The agent the launcher was installed with; runs when there is no `current` pointer. */
  builtin: AgentEntry;
  /** Time a new version has to reach Fusion. */
  healthTimeoutMs: number;
  /** Time an agent has to stop after SIGTERM before it is killed. */
  stopGraceMs: number;
  logger: Logger;
}

/** Pause before restarting an agent that asked for a restart without switching versions, so a loop cannot spin. */
const PLAIN_RESTART_DELAY_MS = 1000;

export class Supervisor {
  private child: AgentProcess | null = null;
  private stopping = false;

  constructor(private readonly options: SupervisorOptions) {}

  /** Runs agents until one ends for good; resolves with the exit code the launcher should end with. */
  async run(): Promise<number> {
    for (;;) {
      const probation = await this.pendingUpgrade();
      const agent = await resolveAgent(this.options.home, this.options.builtin, this.options.logger);
      if (probation && agent.version !== probation.to_version) {
        await this.rollBack(probation, `version ${probation.to_version} has no agent bundle to start`);
        continue;
      }
      if (this.stopping) return 0;
      const child = new AgentProcess(agent, this.options.args, this.options.env);
      this.child = child;
      this.options.logger.info({ version: agent.version ?? 'built-in', agent_pid: child.pid, probation: probation !== null }, 'agent started');
      const outcome = await this.watch(child, probation);
      this.child = null;
      if (outcome === 'rolled_back') continue;
      const end = outcome;
      if (!this.stopping && end.code === RESTART_FOR_UPGRADE_EXIT_CODE) {
        const next = await readUpgradeState(this.options.home).catch(() => null);
        if (!(next?.phase === 'switched' && !next.reported)) await new Promise((resolve) => setTimeout(resolve, PLAIN_RESTART_DELAY_MS));
        this.options.logger.info({ version: next?.to_version }, 'agent asked for a restart');
        continue;
      }
      this.options.logger.info({ code: end.code, signal: end.signal }, 'agent exited');
      return exitCodeOf(end);
    }
  }

  /** Passes a signal to the agent; SIGTERM and SIGINT also end the loop once the agent is gone. */
  signal(signal: NodeJS.Signals): void {
    if (signal === 'SIGTERM' || signal === 'SIGINT') this.stopping = true;
    this.child?.signal(signal);
  }

  /**
   * The upgrade the next agent must prove, if any. A record that says
   * "switched" while `current` names another version (the old agent died
   * between the two writes) is closed as rolled back.
   */
  private async pendingUpgrade(): Promise<UpgradeState | null> {
    const { home, logger } = this.options;
    let state: UpgradeState | null;
    try {
      state = await readUpgradeState(home);
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'cannot read the upgrade record; starting the current version without probation');
      return null;
    }
    if (!state || state.phase !== 'switched' || state.reported) return null;
    const current = await readCurrentVersion(home).catch(() => null);
    if (current === state.to_version) return state;
    await this.record({ ...state, phase: 'rolled_back', reason: `the current pointer names ${current ?? 'no version'}, not ${state.to_version}`, finished_at: Date.now() });
    return null;
  }

  /** Waits for the agent to end; on probation, commits on a healthy report or rolls back. */
  private async watch(child: AgentProcess, probation: UpgradeState | null): Promise<ProcessEnd | 'rolled_back'> {
    const { healthTimeoutMs, stopGraceMs, logger } = this.options;
    let committed: Promise<void> | null = null;
    let timedOut = false;
    const timer = probation
      ? setTimeout(() => {
          if (committed) return;
          timedOut = true;
          logger.warn({ version: probation.to_version, timeoutMs: healthTimeoutMs }, 'new version did not reach Fusion in time; stopping it');
          void child.terminate(stopGraceMs);
        }, healthTimeoutMs)
      : undefined;
    child.onMessage((message) => {
      const healthy = HealthyMessage.safeParse(message);
      if (!healthy.success) return;
      if (!probation || timedOut || healthy.data.version !== probation.to_version) {
        child.send({ type: 'fustor:upgrade_verdict', verdict: 'not_pending' });
        return;
      }
      clearTimeout(timer);
      committed ??= this.record({ ...probation, phase: 'committed', finished_at: Date.now() })
        .catch((err: unknown) => {
          // The version is healthy; an unwritten record only means the next start puts it on probation again.
          logger.error({ err: (err as Error).message }, 'cannot record the committed upgrade');
        })
        .then(() => {
          logger.info({ version: probation.to_version, command_id: probation.command_id }, 'upgrade committed');
          child.send({ type: 'fustor:upgrade_verdict', verdict: 'committed' });
        });
    });
    const end = await child.ended;
    clearTimeout(timer);
    if (committed) await committed;
    if (!probation || committed || this.stopping) return end;
    const reason = timedOut
      ? `version ${probation.to_version} did not reach Fusion within ${healthTimeoutMs} ms`
      : `version ${probation.to_version} ${describeEnd(end)} before reaching Fusion${child.stderrTail ? `: ${child.stderrTail}` : ''}`;
    await this.rollBack(probation, reason);
    return 'rolled_back';
  }

  /** Points `current` back to where it pointed before the upgrade, then records why. */
  private async rollBack(state: UpgradeState, reason: string): Promise<void> {
    this.options.logger.error({ command_id: state.command_id, from: state.to_version, to: state.from_version, reason }, 'rolling back an upgrade');
    await switchCurrentVersion(this.options.home, state.previous_pointer);
    await this.record({ ...state, phase: 'rolled_back', reason, finished_at: Date.now() });
  }

  private async record(state: UpgradeState): Promise<void> {
    await writeUpgradeState(this.options.home, state);
  }
}

function describeEnd(end: ProcessEnd): string {
  return end.signal ? `was killed by ${end.signal}` : `exited with code ${end.code}`;
}

/** The launcher's own exit code for how the agent ended (128 + signal number for a signal, as a shell reports it). */
function exitCodeOf(end: ProcessEnd): number {
  if (end.code !== null) return end.code;
  return 128 + (end.signal ? (constants.signals[end.signal] ?? 0) : 0);
}
