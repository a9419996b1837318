import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { WEBHOOK_KEY_FILE } from '../../server/webhooks/webhook-signing.js';
import { FusionRun, freePort } from './fusion-runner.js';

/** The server the cluster's database is created on (a maintenance database the user may CREATE DATABASE from). */
export const ADMIN_POSTGRES_URL = process.env.FUSION_EXAMPLE_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

export interface ReplicaClusterOptions {
  replicas: number;
  /** Prefix of the fresh database's name. */
  databasePrefix?: string;
  adminToken?: string;
  enrollmentToken?: string;
  heartbeatMs?: number;
  logLevel?: string;
  /** Start replicas with an inspector, so their memory can be measured inside. */
  inspect?: boolean;
}

/** Replicas of one Fusion cluster on one machine: each a child process with a home of its own, all on one fresh PostgreSQL database. */
export interface ReplicaCluster {
  replicas: FusionRun[];
  databaseUrl: string;
  adminToken: string;
  enrollmentToken: string;
  /** Where the replicas' homes (and logs) are. */
  dir: string;
  /** Stops every replica still running, drops the database, removes the homes. Safe to call twice. */
  stop(): Promise<void>;
}

async function withAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_POSTGRES_URL, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Creates a fresh database and starts `replicas` Fusion replicas on it
 * (FUSION_DATABASE_URL, one FUSION_SECRET_KEY and one webhook signing key
 * for all, FUSION_REPLICA_ID replica-1…). The first replica starts alone, so it migrates the schema
 * and takes the data-plane lease.
 */
export async function startReplicaCluster(options: ReplicaClusterOptions): Promise<ReplicaCluster> {
  const name = `${options.databasePrefix ?? 'fusion_replicas'}_${randomBytes(4).toString('hex')}`;
  await withAdmin((client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(ADMIN_POSTGRES_URL);
  url.pathname = `/${name}`;
  const databaseUrl = url.toString();
  const dir = await mkdtemp(join(tmpdir(), 'fusion-replicas-'));
  const adminToken = options.adminToken ?? `admin-${randomBytes(16).toString('hex')}`;
  const enrollmentToken = options.enrollmentToken ?? `enroll-${randomBytes(16).toString('hex')}`;
  const secretKey = randomBytes(32).toString('hex');
  const webhookKey = `${randomBytes(32).toString('base64')}\n`;
  const replicas: FusionRun[] = [];
  let stopped: Promise<void> | undefined;
  const cluster: ReplicaCluster = {
    replicas,
    databaseUrl,
    adminToken,
    enrollmentToken,
    dir,
    stop() {
      stopped ??= (async () => {
        await Promise.all(replicas.map((r) => r.stop(10_000)));
        await withAdmin(async (client) => {
          await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
          await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        }).catch(() => undefined);
        await rm(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
  try {
    for (let i = 1; i <= options.replicas; i++) {
      const home = join(dir, `replica-${i}`);
      // Webhook secrets derive from this key: every replica signs with the one an admin was shown.
      await mkdir(home, { mode: 0o700 });
      await writeFile(join(home, WEBHOOK_KEY_FILE), webhookKey, { mode: 0o600 });
      replicas.push(
        await FusionRun.start({
          home,
          port: await freePort(),
          adminToken,
          enrollmentToken,
          logFile: join(dir, `replica-${i}.log`),
          databaseUrl,
          logLevel: options.logLevel ?? 'warn',
          ...(options.heartbeatMs !== undefined ? { heartbeatMs: options.heartbeatMs } : {}),
          ...(options.inspect ? { inspect: true } : {}),
          env: { FUSION_REPLICA_ID: `replica-${i}`, FUSION_SECRET_KEY: secretKey },
        }),
      );
    }
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}
