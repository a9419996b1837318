import { ago, json, table } from '../format.js';
import type { ReplicaView } from '../../shared/cluster/replicas.js';
import type { CliCommand } from './context.js';

/** `fustorctl replicas`: the Fusion replicas sharing the database (GET /api/v1/management/replicas). */
export const replicasCommand: CliCommand = {
  name: 'replicas',
  usage: 'replicas [--json]',
  summary: 'the Fusion replicas sharing the database: address, live or dead (heartbeat), agents connected, leases held',
  options: {},
  async run(ctx) {
    const answer = await ctx.client.json<{ replica_id: string; heartbeat_ms: number; replicas: ReplicaView[] }>('/api/v1/management/replicas');
    if (ctx.json) {
      ctx.io.stdout.write(json(answer));
      return 0;
    }
    const now = Date.now();
    const rows = answer.replicas.map((r) => [
      r.id === answer.replica_id ? `${r.id} *` : r.id,
      r.url ?? '-',
      r.live ? 'live' : 'dead',
      ago(r.heartbeat_at, now),
      ago(r.started_at, now),
      String(r.agents_connected),
      r.leases.length ? r.leases.join(',') : '-',
    ]);
    ctx.io.stdout.write(table(['REPLICA', 'URL', 'STATE', 'HEARTBEAT', 'STARTED', 'AGENTS', 'LEASES'], rows));
    ctx.io.stdout.write(`* answered this request; a replica is dead once silent for ${(2 * answer.heartbeat_ms) / 1000} s\n`);
    return 0;
  },
};
