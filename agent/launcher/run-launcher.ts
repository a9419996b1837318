/**
 * `fustor-agent` under its launcher: the launcher takes the agent's own
 * command line (it reads only --home and --log-level from it), forwards
 * SIGTERM, SIGINT and SIGHUP to the agent, and ends with the agent's exit
 * status. Environment: FUSTOR_UPGRADE_TIMEOUT_MS, the time a new version has
 * to reach Fusion before it is rolled back (default 120000).
 */
import type { LevelWithSilent } from 'pino';
import { createLogger } from '../../shared/logger.js';
import { resolveHome } from '../bootstrap.js';
import { parseAgentArgs } from '../cli-args.js';
import type { AgentEntry } from './agent-entry.js';
import { Supervisor } from './supervisor.js';

/** Default time a new version has to reach Fusion. */
export const DEFAULT_UPGRADE_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 10_000;
const FORWARDED: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

export interface LauncherInput {
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  /** The agent this launcher was installed with. */
  builtin: AgentEntry;
}

/** Runs agents until the agent ends for good; resolves with the exit code for the launcher. */
export async function runLauncher(input: LauncherInput): Promise<number> {
  let home: string | undefined;
  let level: string | undefined;
  try {
    const args = parseAgentArgs(input.argv);
    home = args.home;
    // With --help the agent's usage is all the output there is.
    level = args.help ? 'silent' : args.logLevel;
  } catch {
    // The agent reports bad arguments itself (and exits 2); the launcher only needed --home.
  }
  const logger = createLogger('fustor-launcher', (level ?? input.env.FUSTOR_LOG_LEVEL ?? 'info') as LevelWithSilent);
  const supervisor = new Supervisor({
    home: resolveHome(home, input.env),
    args: input.argv,
    env: input.env,
    builtin: input.builtin,
    healthTimeoutMs: positiveNumber(input.env.FUSTOR_UPGRADE_TIMEOUT_MS) ?? DEFAULT_UPGRADE_TIMEOUT_MS,
    stopGraceMs: STOP_GRACE_MS,
    logger,
  });
  const handlers = FORWARDED.map((signal) => {
    const handler = (): void => supervisor.signal(signal);
    process.on(signal, handler);
    return () => process.off(signal, handler);
  });
  try {
    return await supervisor.run();
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, 'launcher failed');
    return 1;
  } finally {
    for (const remove of handlers) remove();
  }
}

function positiveNumber(raw: string | undefined): number | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const value = Number(raw);
  return Number.isFinite(value) && value > 0 ? value : undefined;
}

/**
 * The process entry of a launcher: runs it with this process's arguments and
 * environment and sets the exit code from its result (1, with the error on
 * stderr, when it fails).
 */
export function launchProcess(builtin: LauncherInput['builtin']): void {
  runLauncher({ argv: process.argv.slice(2), env: process.env, builtin }).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`fustor-agent launcher: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
