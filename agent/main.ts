/**
 * `fustor-agent`: loads the bootstrap options, starts an Agent and runs until
 * told to stop. SIGHUP reloads the config; SIGTERM and SIGINT stop the agent
 * (closing its control connection and pipes) and exit 0. Bad options exit 2
 * with every problem listed; a failed start exits 1. Under the launcher
 * (bin/fustor-agent.js) it can upgrade itself: after switching to a new
 * version it stops and exits with RESTART_FOR_UPGRADE_EXIT_CODE; it also stops
 * when the launcher goes away, so no agent outlives its supervisor.
 */
import type { LevelWithSilent } from 'pino';
import { createLogger } from '../shared/logger.js';
import { Agent } from './agent.js';
import { BootstrapError, loadBootstrap, resolveHome } from './bootstrap.js';
import { AGENT_USAGE, parseAgentArgs } from './cli-args.js';
import { connectToLauncher } from './launcher/launcher-link.js';
import { RESTART_FOR_UPGRADE_EXIT_CODE } from './launcher/launcher-protocol.js';

/** Longest a stop may take before the process exits anyway. */
const STOP_GRACE_MS = 10_000;

const LEVELS: readonly string[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

async function main(argv: readonly string[]): Promise<number | null> {
  let args;
  let bootstrap;
  try {
    args = parseAgentArgs(argv);
    if (args.help) {
      process.stdout.write(AGENT_USAGE);
      return 0;
    }
    if (args.logLevel !== undefined && !LEVELS.includes(args.logLevel)) {
      throw new BootstrapError('invalid command line', [`--log-level: expected one of ${LEVELS.join(', ')}, got "${args.logLevel}"`]);
    }
    bootstrap = await loadBootstrap(resolveHome(args.home, process.env), args.overrides);
  } catch (err) {
    if (!(err instanceof BootstrapError)) throw err;
    process.stderr.write(`fustor-agent: ${err.message}\n`);
    return 2;
  }

  const logger = createLogger('fustor-agent', (args.logLevel as LevelWithSilent | undefined) ?? ((process.env.FUSTOR_LOG_LEVEL as LevelWithSilent | undefined) ?? 'info'));
  let stopping = false;
  // An agent with no pipes and no control plane has nothing else holding the event loop open.
  const keepAlive = setInterval(() => undefined, 2 ** 30);
  const stop = (signal: string, exitCode = 0): void => {
    if (stopping) return;
    stopping = true;
    clearInterval(keepAlive);
    logger.info({ signal }, 'stopping');
    // A stop that hangs must not keep an upgrade (or a service manager) waiting for ever.
    setTimeout(() => process.exit(exitCode === 0 ? 1 : exitCode), STOP_GRACE_MS).unref();
    agent.stop().then(
      () => process.exit(exitCode),
      (err: unknown) => {
        logger.error({ err: (err as Error).message }, 'agent did not stop cleanly');
        process.exit(exitCode === 0 ? 1 : exitCode);
      },
    );
  };
  const launcher = connectToLauncher(process, () => stop('upgrade', RESTART_FOR_UPGRADE_EXIT_CODE), logger);
  const agent = new Agent({ ...bootstrap, logger, ...(launcher && { launcher }) });
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (launcher) process.on('disconnect', () => stop('launcher exited'));
  process.on('SIGHUP', () => {
    if (stopping) return;
    agent.reload().then(
      (change) => logger.info({ pipes: change }, 'config reloaded'),
      (err: unknown) => logger.error({ err: (err as Error).message }, 'reload failed; the previous config keeps running'),
    );
  });

  try {
    await agent.start();
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, 'agent cannot start');
    clearInterval(keepAlive);
    await agent.stop().catch(() => undefined);
    return 1;
  }
  logger.info({ config: agent.snapshot().config.source }, 'agent running');
  return null; // keep running until a signal
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== null) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`fustor-agent: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
