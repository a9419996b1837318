#!/usr/bin/env node
/**
 * `npm start` / `fusion`: runs Fusion until SIGTERM or SIGINT; SIGHUP re-reads fusion.yaml.
 * Options: --host (FUSION_HOST, default 127.0.0.1), --port (FUSION_PORT, default 8102),
 * --home (FUSTOR_HOME, default ~/.fustor). FUSION_ADMIN_TOKEN and FUSION_ENROLLMENT_TOKEN
 * seed the tokens instead of generating them on first start.
 * `fusion backup <file>`: an online backup of the home's database (Fusion may be running).
 * `fusion migrate-to-postgres --database <url>`: copies a stopped home's database into PostgreSQL and verifies it.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { existsSync, readFileSync } from 'node:fs';
import { backupDatabase } from './store/backup.js';
import { migrateToPostgresCommand } from './migrate-to-postgres.js';
import type { RetentionSettings } from './store/retention.js';
import { FusionServer, type FusionOptions } from './fusion-server.js';

const USAGE = `Usage: fusion [--host 127.0.0.1] [--port 8102] [--home ~/.fustor]
              [--tls-cert cert.pem --tls-key key.pem [--tls-ca ca.pem]] [--init-database]
              [--package-public-key pub.pem] [--database postgres://user@host:5432/db]
       fusion backup <file> [--home ~/.fustor]
       fusion migrate-to-postgres --database postgres://user@host:5432/db [--home ~/.fustor]

--init-database (FUSION_INIT_DATABASE=1): an existing fusion.db that is empty or
not Fusion's is moved aside and a new database created; without it Fusion
refuses to start on such a file. A missing fusion.db is always created.

--database (FUSION_DATABASE_URL): keep Fusion's state in PostgreSQL instead of
the home's fusion.db (the home still holds fusion.yaml, keys and packages);
the schema is created or migrated at start. FUSION_DATABASE_POOL: connections
this Fusion may open (default 10).

migrate-to-postgres copies the home's fusion.db (Fusion stopped) into an empty
PostgreSQL database and verifies the copy; exit code 0 only when verified.

Environment: FUSION_HOST, FUSION_PORT, FUSTOR_HOME, FUSION_ADMIN_TOKEN,
FUSION_ENROLLMENT_TOKEN, FUSTOR_LOG_LEVEL (info), FUSION_TLS_CERT, FUSION_TLS_KEY,
FUSION_TLS_CA (a CA makes client certificates required: mutual TLS),
FUSION_HEARTBEAT_MS (agent ping interval, default 15000), FUSION_SHUTDOWN_RETRY_MS
(reconnect delay hinted to agents at shutdown, default 1000), FUSION_DB_SYNC
(normal: commits survive a killed process; full: also a power loss, one fsync a commit),
FUSION_TRUSTED_PROXIES (comma-separated addresses or CIDR ranges whose X-Forwarded-For names the client), FUSION_ENROLLMENT_APPROVAL=1
(every new agent waits for an admin's approval), FUSION_CREDENTIAL_LIFETIME_MS (agent
credential lifetime, default 30 days; rotated when a third of it is left), FUSION_SECRET_KEY (key of the
secrets store, default <home>/secret.key), FUSION_PACKAGE_PUBLIC_KEY or --package-public-key
(an Ed25519 public key PEM file: agent package uploads must be signed with it),
FUSION_MAX_PENDING_PER_ADDRESS (agent sockets one address may have waiting for hello,
default 64: raise it when many agents reach Fusion through one NAT address).
Replicas on one PostgreSQL: FUSION_REPLICA_ID (this replica's id, default random),
FUSION_REPLICA_URL (the address other replicas and admins see, default the listening one),
FUSION_REPLICA_HEARTBEAT_MS (default 5000; a replica silent two intervals is dead).`;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      home: { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-ca': { type: 'string' },
      'tls-require-client-cert': { type: 'boolean' },
      'init-database': { type: 'boolean' },
      'package-public-key': { type: 'string' },
      database: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const home = resolve(values.home ?? process.env.FUSTOR_HOME ?? join(homedir(), '.fustor'));
  const [command, ...args] = positionals;
  if (command === 'backup') return backupCommand(home, args);
  if (command === 'migrate-to-postgres') return migrateToPostgresCommand(home, values.database ?? process.env.FUSION_DATABASE_URL);
  if (command !== undefined) throw new Error(`unknown command "${command}"\n${USAGE}`);
  const port = Number(values.port ?? process.env.FUSION_PORT ?? 8102);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid port: ${values.port ?? process.env.FUSION_PORT}`);
  const sync = process.env.FUSION_DB_SYNC || 'normal';
  if (sync !== 'normal' && sync !== 'full') throw new Error(`FUSION_DB_SYNC must be normal or full: ${sync}`);
  const server = new FusionServer({
    home,
    host: values.host ?? process.env.FUSION_HOST ?? '127.0.0.1',
    port,
    ...(process.env.FUSION_ADMIN_TOKEN ? { adminToken: process.env.FUSION_ADMIN_TOKEN } : {}),
    ...(process.env.FUSION_ENROLLMENT_TOKEN ? { enrollmentToken: process.env.FUSION_ENROLLMENT_TOKEN } : {}),
    ...msFromEnv('FUSION_HEARTBEAT_MS', 'heartbeatIntervalMs'),
    ...msFromEnv('FUSION_SHUTDOWN_RETRY_MS', 'shutdownRetryAfterMs'),
    ...(process.env.FUSION_ENROLLMENT_APPROVAL === '1' || process.env.FUSION_ENROLLMENT_APPROVAL === 'true' ? { enrollmentApproval: true } : {}),
    ...credentialLifetime(),
    ...secondsFromEnv('FUSION_AGENT_INACTIVE_AFTER_SECONDS', 'agentInactiveAfterMs'),
    ...secondsFromEnv('FUSION_DRIFT_GRACE_SECONDS', 'driftGraceMs'),
    retention: retentionFromEnv(),
    ...tlsOptions(values),
    initDatabase: Boolean(values['init-database']) || process.env.FUSION_INIT_DATABASE === '1',
    databaseSync: sync,
    ...databaseOptions(values.database),
    ...(process.env.FUSION_TRUSTED_PROXIES ? { trustedProxies: process.env.FUSION_TRUSTED_PROXIES.split(',').map((p) => p.trim()).filter(Boolean) } : {}),
    ...packageKeyOption(values['package-public-key'] ?? process.env.FUSION_PACKAGE_PUBLIC_KEY),
    ...maxPendingPerAddress(),
    ...replicaOptions(),
  });
  const { url } = await server.start();
  printInitialSecrets(server, url);

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    server.log.info({ signal }, 'stopping');
    server.stop().then(
      () => exitAfterFlush(server, 0),
      (err: unknown) => {
        server.log.error({ err }, 'stop failed');
        exitAfterFlush(server, 1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // SIGHUP re-reads fusion.yaml; an invalid file is logged and the config in force stays.
  process.on('SIGHUP', () => {
    if (stopping) return;
    server.reloadFusionConfig().then(
      (applied) => server.log.info({ signal: 'SIGHUP', signature: applied.signature }, 'fusion.yaml reloaded'),
      (err: unknown) => server.log.error({ signal: 'SIGHUP', err: err instanceof Error ? err.message : String(err), details: (err as { details?: unknown }).details }, 'fusion.yaml reload failed; the config in force is unchanged'),
    );
  });
}

/** `fusion backup <file>`: a consistent copy of the home's database, taken while Fusion may keep writing. */
async function backupCommand(home: string, args: string[]): Promise<void> {
  if (args.length !== 1) throw new Error(`fusion backup takes one destination file\n${USAGE}`);
  const source = join(home, 'fusion.db');
  if (!existsSync(source)) throw new Error(`no database at ${source}`);
  const result = await backupDatabase(source, resolve(args[0]!));
  process.stdout.write(`backup written: ${result.file} (${result.bytes} bytes, ${result.pages} pages, ${result.tookMs} ms)\n`);
}

/** Lets the log reach a pipe before the process ends (stdout to a pipe is asynchronous). */
function exitAfterFlush(server: FusionServer, code: number): void {
  process.exitCode = code;
  server.log.flush(() => process.exit(code));
  setTimeout(() => process.exit(code), 2000).unref();
}

/** A duration option from an environment variable (whole milliseconds); absent when the variable is unset. */
function msFromEnv<K extends 'heartbeatIntervalMs' | 'shutdownRetryAfterMs'>(name: string, option: K): Partial<Pick<FusionOptions, K>> {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return {};
  const ms = Number(raw);
  const min = option === 'heartbeatIntervalMs' ? 1 : 0;
  if (!Number.isInteger(ms) || ms < min) throw new Error(`${name} must be a whole number of milliseconds (at least ${min}): ${raw}`);
  return { [option]: ms } as Partial<Pick<FusionOptions, K>>;
}

/** FUSION_MAX_PENDING_PER_ADDRESS / FUSION_MAX_PENDING_TOTAL: sockets one address, and all together, may have waiting for an answered `hello` (1 to 1,000,000). */
function maxPendingPerAddress(): Pick<FusionOptions, 'maxPendingPerAddress' | 'maxPendingTotal'> {
  const read = (name: string): number | undefined => {
    const raw = process.env[name];
    if (raw === undefined || raw === '') return undefined;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > 1_000_000) throw new Error(`${name} must be a whole number from 1 to 1000000: ${raw}`);
    return n;
  };
  const perAddress = read('FUSION_MAX_PENDING_PER_ADDRESS');
  const total = read('FUSION_MAX_PENDING_TOTAL');
  return { ...(perAddress !== undefined ? { maxPendingPerAddress: perAddress } : {}), ...(total !== undefined ? { maxPendingTotal: total } : {}) };
}

/** The agent credential lifetime from FUSION_CREDENTIAL_LIFETIME_MS (at least a minute). */
function credentialLifetime(): Pick<FusionOptions, 'credentials'> | Record<string, never> {
  const raw = process.env.FUSION_CREDENTIAL_LIFETIME_MS;
  if (raw === undefined || raw === '') return {};
  const ms = Number(raw);
  if (!Number.isInteger(ms) || ms < 60_000) throw new Error(`FUSION_CREDENTIAL_LIFETIME_MS must be a whole number of milliseconds, at least 60000: ${raw}`);
  return { credentials: { lifetimeMs: ms } };
}

/** The package signing key uploads must verify with, read from its PEM file. */
function packageKeyOption(file: string | undefined): { packagePublicKey?: string } {
  if (!file) return {};
  try {
    return { packagePublicKey: readFileSync(file, 'utf8') };
  } catch (err) {
    throw new Error(`cannot read the package public key ${file}: ${(err as Error).message}`);
  }
}

/** A whole number of seconds from the environment, as the option's milliseconds. */
function secondsFromEnv<K extends 'agentInactiveAfterMs' | 'driftGraceMs'>(name: string, option: K): Partial<Pick<FusionOptions, K>> {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return {};
  const seconds = Number(raw);
  if (!Number.isInteger(seconds) || seconds < 0) throw new Error(`${name} must be a whole number of seconds: ${raw}`);
  return { [option]: seconds * 1000 } as Partial<Pick<FusionOptions, K>>;
}

/** FUSION_RETENTION_COMMANDS_DAYS, _AUDIT_DAYS, _REVISIONS_DAYS and _REVISIONS_KEEP (0 keeps forever). */
function retentionFromEnv(): Partial<RetentionSettings> {
  const settings: Partial<RetentionSettings> = {};
  const names: Array<[string, keyof RetentionSettings]> = [
    ['FUSION_RETENTION_COMMANDS_DAYS', 'commandsDays'],
    ['FUSION_RETENTION_AUDIT_DAYS', 'auditDays'],
    ['FUSION_RETENTION_REVISIONS_DAYS', 'revisionsDays'],
    ['FUSION_RETENTION_REVISIONS_KEEP', 'revisionsKeep'],
  ];
  for (const [name, key] of names) {
    const raw = process.env[name];
    if (raw === undefined || raw === '') continue;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number of at least 0: ${raw}`);
    settings[key] = value;
  }
  return settings;
}

/** HTTPS/WSS from --tls-cert and --tls-key (FUSION_TLS_CERT, FUSION_TLS_KEY), mTLS with --tls-ca (FUSION_TLS_CA). */
function tlsOptions(values: Record<string, string | boolean | undefined>): { tls?: NonNullable<FusionOptions['tls']> } {
  const cert = (values['tls-cert'] as string | undefined) ?? process.env.FUSION_TLS_CERT;
  const key = (values['tls-key'] as string | undefined) ?? process.env.FUSION_TLS_KEY;
  const ca = (values['tls-ca'] as string | undefined) ?? process.env.FUSION_TLS_CA;
  if (!cert && !key) {
    if (ca) throw new Error('--tls-ca needs --tls-cert and --tls-key');
    return {};
  }
  if (!cert || !key) throw new Error('TLS needs both --tls-cert and --tls-key');
  const read = (file: string, what: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`cannot read the TLS ${what} ${file}: ${(err as Error).message}`);
    }
  };
  const requireClientCert = Boolean(values['tls-require-client-cert']) || process.env.FUSION_TLS_REQUIRE_CLIENT_CERT === '1' || Boolean(ca);
  return { tls: { cert: read(cert, 'certificate'), key: read(key, 'key'), ...(ca ? { ca: read(ca, 'CA') } : {}), requireClientCert } };
}

/** Shown once, on the terminal only: the log never carries secrets. */
function printInitialSecrets(server: FusionServer, url: string): void {
  const s = server.initialSecrets;
  if (!s.adminToken && !s.enrollmentToken && !s.dataApiKey) return;
  const lines = ['', `Fusion is running at ${url}. These secrets are shown once; only their hashes are stored.`];
  if (s.adminToken) lines.push(`  admin token:       ${s.adminToken}`);
  if (s.enrollmentToken) lines.push(`  enrollment token:  ${s.enrollmentToken}`);
  if (s.dataApiKey) lines.push(`  data API key:      ${s.dataApiKey}   (in fusion.yaml, for agent senders)`);
  process.stderr.write(`${lines.join('\n')}\n\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`fusion: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

/** FUSION_REPLICA_ID, FUSION_REPLICA_URL and FUSION_REPLICA_HEARTBEAT_MS (replicas on one PostgreSQL). */
function replicaOptions(): Pick<FusionOptions, 'replicaId' | 'replicaUrl' | 'replicaHeartbeatMs'> {
  const out: Pick<FusionOptions, 'replicaId' | 'replicaUrl' | 'replicaHeartbeatMs'> = {};
  const id = process.env.FUSION_REPLICA_ID;
  if (id) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(id)) throw new Error(`FUSION_REPLICA_ID must be 1 to 64 letters, digits, '.', '_' or '-': ${id}`);
    out.replicaId = id;
  }
  if (process.env.FUSION_REPLICA_URL) out.replicaUrl = process.env.FUSION_REPLICA_URL;
  const raw = process.env.FUSION_REPLICA_HEARTBEAT_MS;
  if (raw !== undefined && raw !== '') {
    const ms = Number(raw);
    if (!Number.isInteger(ms) || ms < 100 || ms > 600_000) throw new Error(`FUSION_REPLICA_HEARTBEAT_MS must be a whole number of milliseconds from 100 to 600000: ${raw}`);
    out.replicaHeartbeatMs = ms;
  }
  return out;
}

/** --database / FUSION_DATABASE_URL and FUSION_DATABASE_POOL. */
function databaseOptions(flag: string | undefined): Pick<FusionOptions, 'databaseUrl' | 'databaseConnections'> {
  const url = flag ?? process.env.FUSION_DATABASE_URL;
  if (!url) return {};
  const pool = process.env.FUSION_DATABASE_POOL;
  if (pool === undefined || pool === '') return { databaseUrl: url };
  const connections = Number(pool);
  if (!Number.isInteger(connections) || connections < 1 || connections > 1000) throw new Error(`FUSION_DATABASE_POOL must be a whole number from 1 to 1000: ${pool}`);
  return { databaseUrl: url, databaseConnections: connections };
}
