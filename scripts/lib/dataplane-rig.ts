/**
 * What the data-plane benchmarks share: the admin API, the receiver key of a
 * fresh Fusion home, and waiting for a pipe's snapshot to reach the view.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';

export type Api = (method: string, route: string, body?: unknown) => Promise<any>;

export function adminApi(base: string, token: string): Api {
  return async (method, route, body) => {
    const res = await fetch(`${base}${route}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${route} answered ${res.status}: ${text.slice(0, 500)}`);
    return text ? JSON.parse(text) : undefined;
  };
}

/** The receiver key Fusion wrote into its fresh fusion.yaml. */
export async function receiverKey(home: string): Promise<string> {
  const config = YAML.parse(await readFile(path.join(home, 'fusion.yaml'), 'utf8')) as { receivers: Record<string, { api_keys: Array<{ key: string }> }> };
  const key = Object.values(config.receivers)[0]?.api_keys[0]?.key;
  if (!key) throw new Error('fusion.yaml holds no receiver key');
  return key;
}

/**
 * Polls the view's sessions until the snapshot's last batch has been applied;
 * Fusion's timestamps of it: when the sender's session opened (the walk
 * starts then), its first batch and its last.
 */
export async function waitForSnapshot(
  base: string,
  key: string,
  checkTime: (what: string) => void,
): Promise<{ session_created_at: number; started_at: number; finished_at: number }> {
  for (;;) {
    checkTime('waiting for the first snapshot');
    const res = await fetch(`${base}/api/v1/views/default/sessions`, { headers: { 'x-api-key': key } });
    const body = (await res.json()) as { sessions: Array<{ created_at: number; last_scan: { done: boolean; started_at: number; finished_at: number | null } | null }> };
    const session = body.sessions[0];
    const scan = session?.last_scan;
    if (session && scan?.done && scan.finished_at !== null) return { session_created_at: session.created_at, started_at: scan.started_at, finished_at: scan.finished_at };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

