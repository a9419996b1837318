#!/usr/bin/env node
/**
 * `npm run simulate-agents -- --url http://127.0.0.1:8102 --token <enrollment token> --count 1000`
 *
 * Starts N lightweight simulated agents in this process against a running
 * Fusion: protocol clients that say hello, apply config frames (full and
 * patch) and acknowledge them, answer commands, keep the credential Fusion
 * gives them and reconnect with backoff and jitter (honouring Fusion's
 * reconnect hint). Prints a status line every few seconds; stops on Ctrl-C,
 * SIGTERM or after --duration.
 */
import { parseArgs } from 'node:util';
import { SimulatedFleet, type FleetOptions } from './lib/sim-fleet.js';

const USAGE = `Usage: npm run simulate-agents -- --url <fusion url> --token <enrollment token> --count <N>
    [--prefix sim-] [--jitter | --no-jitter] [--group <name>] [--transport websocket|poll]
    [--poll-interval <s>] [--duration <s>] [--report-every <s>] [--max-connecting 200]

  --url            Fusion's base URL (http:// or https://)
  --token          enrollment token (FUSION_ENROLLMENT_TOKEN); each agent then uses its own credential
  --count          number of agents (one process holds about 18,000 sockets: mind ulimit -n)
  --prefix         agent ids are <prefix>00000, <prefix>00001, ...
  --jitter         full-jitter backoff and reconnect hints, as real agents do (the default)
  --no-jitter      every agent reconnects in lock-step (to show what jitter buys)
  --group          group named in each agent's hello
  --transport      websocket (default) or poll (the pull endpoint)
  --poll-interval  seconds between polls (poll transport, default 30)
  --duration       stop after this many seconds (default: run until interrupted)`;

function options(): { fleet: FleetOptions; durationS: number | undefined; reportEveryS: number } {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      token: { type: 'string' },
      count: { type: 'string' },
      prefix: { type: 'string' },
      jitter: { type: 'boolean' },
      'no-jitter': { type: 'boolean' },
      group: { type: 'string' },
      transport: { type: 'string' },
      'poll-interval': { type: 'string' },
      duration: { type: 'string' },
      'report-every': { type: 'string' },
      'max-connecting': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const problems: string[] = [];
  const positive = (name: string, raw: string | undefined, fallback?: number): number | undefined => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0) problems.push(`--${name} must be a positive number`);
    return n;
  };
  if (!values.url) problems.push('--url is required');
  if (!values.token) problems.push('--token is required');
  const count = positive('count', values.count);
  if (count === undefined) problems.push('--count is required');
  if (values.jitter && values['no-jitter']) problems.push('--jitter and --no-jitter exclude each other');
  const transport = values.transport ?? 'websocket';
  if (transport !== 'websocket' && transport !== 'poll') problems.push('--transport is websocket or poll');
  const pollS = positive('poll-interval', values['poll-interval'], 30)!;
  const durationS = positive('duration', values.duration);
  const reportEveryS = positive('report-every', values['report-every'], 5)!;
  const maxConnecting = positive('max-connecting', values['max-connecting'], 200)!;
  if (problems.length > 0) {
    process.stderr.write(`${problems.join('\n')}\n\n${USAGE}\n`);
    process.exit(2);
  }
  return {
    fleet: {
      url: values.url!,
      token: values.token!,
      count: Math.floor(count!),
      prefix: values.prefix ?? 'sim-',
      jitter: !values['no-jitter'],
      transport: transport as 'websocket' | 'poll',
      pollIntervalMs: pollS * 1000,
      maxConnecting: Math.floor(maxConnecting),
      ...(values.group !== undefined && { group: values.group }),
    },
    durationS,
    reportEveryS,
  };
}

async function main(): Promise<void> {
  const { fleet: fleetOptions, durationS, reportEveryS } = options();
  const fleet = new SimulatedFleet(fleetOptions);
  const startedAt = Date.now();
  const report = (): void => {
    const s = fleet.snapshot();
    const seconds = ((Date.now() - startedAt) / 1000).toFixed(0);
    const refused = Object.entries(s.refused).map(([status, n]) => `${status}x${n}`).join(',') || '0';
    process.stdout.write(
      `[${seconds}s] agents ${s.count} connected ${s.connected} running ${s.running} | welcomes ${s.welcomes} closes ${s.closes} dial-failures ${s.dialFailures} refused ${refused} | ` +
        `configs full ${s.configsFull} patch ${s.configsPatch} requests ${s.configRequests} applied ${s.applied} polls ${s.polls} problems ${s.problems}\n`,
    );
    for (const sample of s.problemSamples) process.stdout.write(`    problem: ${sample}\n`);
  };
  const timer = setInterval(report, reportEveryS * 1000);
  let stopping = false;
  const stop = (why: string): void => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    process.stdout.write(`stopping (${why})\n`);
    report();
    const forced = setTimeout(() => process.exit(1), 10_000);
    forced.unref();
    fleet.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  if (durationS !== undefined) setTimeout(() => stop(`${durationS} s elapsed`), durationS * 1000).unref();
  process.stdout.write(`starting ${fleetOptions.count} simulated agents (${fleetOptions.transport}, jitter ${fleetOptions.jitter ? 'on' : 'off'}) against ${fleetOptions.url}\n`);
  await fleet.start();
}

main().catch((err: unknown) => {
  process.stderr.write(`simulate-agents: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
