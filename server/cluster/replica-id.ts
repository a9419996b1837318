import { randomBytes } from 'node:crypto';

const REPLICA_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * This replica's id among the replicas of one database: the `replicaId`
 * option, else FUSION_REPLICA_ID, else a random one (a restarted replica is
 * then a new one). Letters, digits, `.`, `_`, `-`; at most 64.
 */
export function resolveReplicaId(option?: string, env: NodeJS.ProcessEnv = process.env): string {
  const id = option ?? env.FUSION_REPLICA_ID;
  if (id === undefined || id === '') return `r-${randomBytes(4).toString('hex')}`;
  if (!REPLICA_ID.test(id)) throw new Error(`the replica id ${JSON.stringify(id)} must be 1–64 letters, digits, '.', '_' or '-'`);
  return id;
}
