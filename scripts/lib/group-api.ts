import type { FusionRun } from './fusion-runner.js';

/**
 * The group template the benchmarks roll out: one fs pipe per agent. With
 * `perAgent` (the default) its path names the agent, so every member's
 * document differs; without, every member gets the same document.
 */
export function fleetTemplate(auditIntervalSec: number, perAgent = true): string {
  return `# benchmark fleet policy
sources:
  share:
    driver: fs
    uri: /srv/share${perAgent ? '/\${agent_id}' : ''}
senders:
  fusion:
    driver: fusion
    uri: http://127.0.0.1:1
    credential:
      key: bench-receiver-key
pipes:
  share-to-fusion:
    source: share
    sender: fusion
    audit_interval_sec: ${auditIntervalSec}
    sentinel_interval_sec: 30
`;
}

export interface RolloutProgressView {
  id: string;
  status: string;
  counts: Record<'pending' | 'applying' | 'applied' | 'failed' | 'cancelled' | 'total', number>;
  agents?: Array<{ agent_id: string; state: string; updated_at: number }>;
}

async function ok<T>(res: Response, what: string, status: number): Promise<T> {
  if (res.status !== status) throw new Error(`${what}: HTTP ${res.status} ${(await res.text()).slice(0, 500)}`);
  return (await res.json()) as T;
}

/**
 * Creates the group the simulated fleet joins. The fleet joins by its
 * bootstrap `group:`, which Fusion honours only for a group that allows
 * self-join; without it no agent would ever become a member and a benchmark
 * would wait for the whole of its start timeout before failing.
 */
export async function createGroup(fusion: FusionRun, name: string, template: string): Promise<void> {
  const res = await fusion.api('/api/v1/management/groups', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, description: 'benchmark fleet', template, self_join: true }),
    signal: AbortSignal.timeout(60_000),
  });
  await ok(res, `create group ${name}`, 201);
}

/** Saves a new template (all at once); resolves with the rollout id (null when the group has no members). */
export async function saveTemplate(fusion: FusionRun, name: string, template: string): Promise<string | null> {
  const res = await fusion.api(`/api/v1/management/groups/${name}/template`, {
    method: 'PUT',
    headers: { 'content-type': 'application/yaml' },
    body: template,
    signal: AbortSignal.timeout(300_000),
  });
  const saved = await ok<{ rollout: { id: string } | null }>(res, `save template of ${name}`, 200);
  return saved.rollout?.id ?? null;
}

export async function rolloutProgress(fusion: FusionRun, id: string, withAgents: boolean): Promise<RolloutProgressView> {
  const res = await fusion.api(`/api/v1/management/rollouts/${id}?agents=${withAgents}`);
  return ok<RolloutProgressView>(res, `rollout ${id}`, 200);
}

export async function groupMembers(fusion: FusionRun, name: string): Promise<number> {
  const res = await fusion.api(`/api/v1/management/groups/${name}/members`);
  return (await ok<{ members: unknown[] }>(res, `members of ${name}`, 200)).members.length;
}

/** Every agent Fusion lists, following the listing's cursors (`query` adds filters, e.g. `status=online`). */
export async function listAllAgents<T>(fusion: FusionRun, query = ''): Promise<T[]> {
  const agents: T[] = [];
  let cursor: string | null = null;
  do {
    const params = new URLSearchParams(query);
    params.set('limit', '500');
    if (cursor) params.set('cursor', cursor);
    const res = await fusion.api(`/api/v1/management/agents?${params}`);
    if (!res.ok) throw new Error(`listing agents: HTTP ${res.status} ${await res.text()}`);
    const page = (await res.json()) as { agents: T[]; next_cursor: string | null };
    agents.push(...page.agents);
    cursor = page.next_cursor;
  } while (cursor);
  return agents;
}
