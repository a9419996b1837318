/**
 * The agent's end of the launcher protocol: present only when the agent runs
 * under the launcher (IPC channel open and {@link LAUNCHER_ENV} set).
 */
import type { Logger } from '../../shared/logger.js';
import { LAUNCHER_ENV, UpgradeVerdictMessage, type AgentToLauncherMessage } from './launcher-protocol.js';

export interface LauncherLink {
  /**
   * Tells the launcher this version reached Fusion. Resolves with its verdict
   * on a pending upgrade; rejects when it does not answer within `timeoutMs`.
   */
  confirmHealthy(version: string, timeoutMs?: number): Promise<UpgradeVerdictMessage['verdict']>;
  /** Stops the agent and exits so the launcher starts the version `current` now names. Does not return. */
  restart(reason: string): void;
}

/**
 * The link to the launcher that started this process, or undefined when it was
 * not started by one. `restart` is the program's way to stop cleanly and exit
 * with the restart code.
 */
export function connectToLauncher(proc: NodeJS.Process, restart: (reason: string) => void, logger: Logger): LauncherLink | undefined {
  if (typeof proc.send !== 'function' || !proc.connected || proc.env[LAUNCHER_ENV] !== '1') return undefined;
  return {
    confirmHealthy(version, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const onMessage = (message: unknown): void => {
          const parsed = UpgradeVerdictMessage.safeParse(message);
          if (!parsed.success) return;
          done();
          resolve(parsed.data.verdict);
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`the launcher did not answer within ${timeoutMs} ms`));
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          proc.off('message', onMessage);
        };
        proc.on('message', onMessage);
        const message: AgentToLauncherMessage = { type: 'fustor:healthy', version };
        try {
          proc.send!(message, (err: Error | null) => {
            if (!err) return;
            done();
            reject(err);
          });
        } catch (err) {
          done();
          reject(err as Error);
        }
      });
    },
    restart(reason) {
      logger.info({ reason }, 'restarting under the launcher');
      restart(reason);
    },
  };
}
