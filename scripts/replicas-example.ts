/**
 * `npm run example:replicas [-- --replicas 3 --agents 6]`: Fusion replicas on
 * one PostgreSQL, on this machine, with a few real agents spread over them.
 * Creates a fresh database on FUSION_EXAMPLE_POSTGRES_URL's server (default
 * postgres://postgres@127.0.0.1:5432/postgres), prints the replicas' URLs,
 * the admin token and what to try, and removes everything on Ctrl-C.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { Agent } from '../agent/agent.js';
import { startReplicaCluster, type ReplicaCluster } from './lib/replica-cluster.js';

export interface ReplicasExample {
  cluster: ReplicaCluster;
  agents: Agent[];
  /** What to print: URLs, token, things to try. */
  guide: string;
  stop(): Promise<void>;
}

/** Starts the replicas and `agents` agents, each given every replica's URL (it picks one at random, and moves when it goes). */
export async function startReplicasExample(options: { replicas: number; agents: number }): Promise<ReplicasExample> {
  const cluster = await startReplicaCluster({ replicas: options.replicas, databasePrefix: 'fusion_example', heartbeatMs: 2000 });
  const agents: Agent[] = [];
  const homes: string[] = [];
  const uris = cluster.replicas.map((r) => r.url);
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await Promise.all(agents.map((a) => a.stop().catch(() => undefined)));
      await Promise.all(homes.map((h) => rm(h, { recursive: true, force: true })));
      await cluster.stop();
    })());
  try {
    for (let i = 1; i <= options.agents; i++) {
      const home = await mkdtemp(join(tmpdir(), `fustor-agent-${i}-`));
      homes.push(home);
      const agent = new Agent({
        home,
        agentId: `example-agent-${i}`,
        controlPlaneUri: uris[0]!,
        controlPlaneUris: uris,
        authToken: cluster.enrollmentToken,
        connectTimeoutMs: 2000,
        backoff: { baseMs: 200, capMs: 2000, stableAfterMs: 60_000 },
        logger: pino({ level: process.env.FUSTOR_LOG_LEVEL ?? 'error' }),
      });
      agents.push(agent);
    }
    await Promise.all(agents.map((a) => a.start()));
  } catch (err) {
    await stop();
    throw err;
  }
  const [first] = cluster.replicas;
  const auth = `-H "Authorization: Bearer ${cluster.adminToken}"`;
  const guide = [
    `${cluster.replicas.length} Fusion replicas on ${cluster.databaseUrl}`,
    ...cluster.replicas.map((r, i) => `  replica-${i + 1}: ${r.url}   (pid ${r.pid}, log ${join(cluster.dir, `replica-${i + 1}.log`)})`),
    `admin token: ${cluster.adminToken}`,
    `${agents.length} agents (example-agent-1…${agents.length}), each given every replica's URL`,
    '',
    'Try:',
    `  curl -s ${auth} ${first!.url}/api/v1/management/agents           # every agent, whichever replica answers`,
    `  curl -sN ${auth} ${cluster.replicas.at(-1)!.url}/api/v1/management/events   # events of every replica`,
    `  kill -9 ${first!.pid}   # replica-1 (data-plane holder): its agents move to the others, another replica serves the data plane`,
    `  web UI: ${first!.url}/ui/ (sign in with the admin token)`,
    '',
    'Ctrl-C stops everything and drops the database.',
  ].join('\n');
  return { cluster, agents, guide, stop };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { replicas: { type: 'string', default: '3' }, agents: { type: 'string', default: '6' } } });
  const replicas = Number(values.replicas);
  const agents = Number(values.agents);
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 9) throw new Error('--replicas must be 1 to 9');
  if (!Number.isInteger(agents) || agents < 0 || agents > 50) throw new Error('--agents must be 0 to 50');
  process.stderr.write('starting (creating a database, migrating, starting replicas and agents)…\n');
  const example = await startReplicasExample({ replicas, agents });
  process.stdout.write(`${example.guide}\n`);
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    process.stderr.write('\nstopping…\n');
    example.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`cleanup failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: unknown) => {
    process.stderr.write(`replicas example: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
