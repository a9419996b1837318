/**
 * `fustor-agent`: loads the bootstrap options, starts an Agent and runs until
 * told to stop. SIGHUP reloads the config; SIGTERM and SIGINT stop the agent
 * (closing its control connection and pipes) and exit 0. Bad options exit 2
 * with every problem listed; a failed start exits 1.
 */
import type { LevelWithSilent } from 'pino';
import { createLogger } from '../shared/logger.js';
import { Agent } from './agent.js';
import { BootstrapError, loadBootstrap, resolveHome } from './bootstrap.js';
import { AGENT_USAGE, parseAgentArgs } from './cli-args.js';

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
  const agent = new Agent({ ...bootstrap, logger });
  let stopping = false;
  // An agent with no pipes and no control plane has nothing else holding the event loop open.
  const keepAlive = setInterval(() => undefined, 2 ** 30);
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    clearInterval(keepAlive);
    logger.info({ signal }, 'stopping');
    agent.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err: (err as Error).message }, 'agent did not stop cleanly');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
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
