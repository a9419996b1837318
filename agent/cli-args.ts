/**
 * Command-line flags of `fustor-agent`. Every bootstrap option has a flag; a
 * flag wins over bootstrap.yaml. Parsing never exits the process: problems
 * come back as a {@link BootstrapError} listing each of them.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BootstrapError, type BootstrapOverrides } from './bootstrap.js';

export interface AgentCliArgs {
  help: boolean;
  /** `--home`, when given. */
  home?: string;
  /** `--log-level`, when given. */
  logLevel?: string;
  overrides: BootstrapOverrides;
}

export const AGENT_USAGE = `Usage: fustor-agent [options]

Runs a Fustor agent: pipes that collect file metadata and push it to Fusion,
configured by Fusion (control plane), a cached remote config, or local files.

Options (each overrides the same key in $FUSTOR_HOME/bootstrap.yaml):
  --home <dir>                   agent home (default $FUSTOR_HOME, else ~/.fustor)
  --agent-id <id>                agent id (agent_id)
  --control-plane-uri <url,...>  Fusion base URL, e.g. http://fusion:8102, or several replicas'
                                 URLs separated by commas (control_plane_uri)
  --auth-token <token>           bearer token for the control channel (auth_token)
  --transport <websocket|poll>   control transport (transport, default websocket)
  --poll-interval-sec <n>        seconds between polls (poll_interval_sec, default 30)
  --connect-timeout-ms <n>       start-up wait for the control plane (connect_timeout_ms, default 5000)
  --backoff-base-ms <n>          first reconnect backoff ceiling (backoff.base_ms, default 500)
  --backoff-cap-ms <n>           largest reconnect backoff (backoff.cap_ms, default 30000)
  --backoff-stable-after-ms <n>  uptime that resets the backoff (backoff.stable_after_ms, default 10000)
  --hostname <name>              host name reported to Fusion (hostname)
  --group <name>                 group label (group)
  --ca <file>                    PEM CA(s) that Fusion's certificate must chain to (ca)
  --cert <file>                  PEM client certificate for mutual TLS (cert; needs --key)
  --key <file>                   PEM private key of that certificate (key)
  --package-public-key <file>    Ed25519 public key packages must be signed with (package_public_key)
  --log-level <level>            trace|debug|info|warn|error|fatal|silent (default $FUSTOR_LOG_LEVEL or info)
  -h, --help                     show this help

Local config: $FUSTOR_HOME/agent-config/*.yaml. Cached remote config:
$FUSTOR_HOME/agent-state/config-cache.json. Per-agent credential received at
enrollment: $FUSTOR_HOME/agent-state/credential.json (mode 0600). Relative TLS
paths in bootstrap.yaml are relative to the home. SIGHUP reloads; SIGTERM/SIGINT stop.
`;

const STRING_FLAGS = [
  'home',
  'agent-id',
  'control-plane-uri',
  'auth-token',
  'transport',
  'poll-interval-sec',
  'connect-timeout-ms',
  'backoff-base-ms',
  'backoff-cap-ms',
  'backoff-stable-after-ms',
  'hostname',
  'group',
  'ca',
  'cert',
  'key',
  'package-public-key',
  'log-level',
] as const;

/** One URL stays a string (as in bootstrap.yaml); `a,b` becomes a list, empty entries kept so validation names them. */
function uriList(raw: string | undefined): string | string[] | undefined {
  if (raw === undefined || !raw.includes(',')) return raw;
  return raw.split(',').map((entry) => entry.trim());
}

/** Parses argv (without node and script). Throws BootstrapError on unknown flags or non-numeric numbers. */
export function parseAgentArgs(argv: readonly string[]): AgentCliArgs {
  const options = Object.fromEntries(STRING_FLAGS.map((name) => [name, { type: 'string' as const }]));
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new BootstrapError('invalid command line', [`${(err as Error).message} (see --help)`]);
  }
  const issues: string[] = [];
  const text = (name: string): string | undefined => {
    const value = values[name];
    return typeof value === 'string' ? value : undefined;
  };
  /** A file named on the command line is relative to the working directory. */
  const file = (name: string): string | undefined => {
    const raw = text(name);
    return raw === undefined || raw === '' ? raw : path.resolve(raw);
  };
  const number = (name: string): number | undefined => {
    const raw = text(name);
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(value)) {
      issues.push(`--${name}: expected a number, got "${raw}"`);
      return undefined;
    }
    return value;
  };
  const overrides: BootstrapOverrides = {
    agent_id: text('agent-id'),
    control_plane_uri: uriList(text('control-plane-uri')),
    auth_token: text('auth-token'),
    transport: text('transport') as BootstrapOverrides['transport'],
    poll_interval_sec: number('poll-interval-sec'),
    connect_timeout_ms: number('connect-timeout-ms'),
    hostname: text('hostname'),
    group: text('group'),
    ca: file('ca'),
    cert: file('cert'),
    key: file('key'),
    package_public_key: file('package-public-key'),
    backoff: {
      base_ms: number('backoff-base-ms'),
      cap_ms: number('backoff-cap-ms'),
      stable_after_ms: number('backoff-stable-after-ms'),
    },
  };
  if (issues.length > 0) throw new BootstrapError('invalid command line', issues);
  const home = text('home');
  const logLevel = text('log-level');
  return {
    help: values.help === true,
    ...(home !== undefined && { home }),
    ...(logLevel !== undefined && { logLevel }),
    overrides,
  };
}
