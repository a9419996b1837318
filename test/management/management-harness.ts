import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FusionOptions } from '../../server/fusion-server.js';
import { TokenStore, type AdminRole } from '../../server/auth/token-store.js';
import { openHomeSql } from '../harness/test-database.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { tempHome } from '../harness/temp-home.js';

export const INGEST_KEY = 'mgmt-ingest-key-0123456789';
export const ARCHIVE_KEY = 'mgmt-archive-key-0123456789';

/** fusion.yaml with one receiver `main`, one view `tree` and one pipe `main` (key INGEST_KEY). */
export const FUSION_YAML = `# test fusion config
receivers:
  main:
    driver: http
    session_timeout_seconds: 30
    heartbeat_interval_seconds: 5
    api_keys:
      - { key: ${INGEST_KEY}, pipe_id: main }
views:
  tree:
    driver: fs
pipes:
  main:
    receiver: main
    views: [tree]
`;

/** FUSION_YAML plus a view `archive` fed by a new pipe `archive` (key ARCHIVE_KEY). */
export const FUSION_YAML_WITH_ARCHIVE = `${FUSION_YAML.replace(
  `      - { key: ${INGEST_KEY}, pipe_id: main }\n`,
  `      - { key: ${INGEST_KEY}, pipe_id: main }\n      - { key: ${ARCHIVE_KEY}, pipe_id: archive }\n`,
)}  archive:
    receiver: main
    views: [archive]
`.replace('views:\n  tree:\n    driver: fs\n', 'views:\n  tree:\n    driver: fs\n  archive:\n    driver: fs\n');

export interface ManagedFusion extends TestFusion {
  /** Removes the home too. */
  close(): Promise<void>;
}

/** A test Fusion whose fusion.yaml is `yaml` (FUSION_YAML by default), with fast event keep-alives. */
export async function startManagedFusion(options: Partial<FusionOptions> & { yaml?: string } = {}): Promise<ManagedFusion> {
  const home = await tempHome('fusion-mgmt-');
  try {
    await writeFile(join(home.path, 'fusion.yaml'), options.yaml ?? FUSION_YAML, { mode: 0o600 });
    const { yaml: _yaml, ...rest } = options;
    const fusion = await startFusion({ eventHeartbeatMs: 100, ...rest, home: home.path });
    return Object.assign(fusion, {
      async close() {
        await fusion.stop();
        await home.remove();
      },
    });
  } catch (err) {
    await home.remove();
    throw err;
  }
}

/** Creates an admin token with `role` straight in Fusion's database (there is no token API yet). */
export async function createAdminToken(home: string, role: AdminRole, name = `${role}-token`): Promise<{ secret: string; id: string }> {
  const sql = await openHomeSql(home);
  try {
    const { secret, token } = await new TokenStore(sql).create({ kind: 'admin', name, role });
    return { secret, id: token.id };
  } finally {
    await sql.close();
  }
}

/** Revokes a token straight in Fusion's database. */
export async function revokeToken(home: string, id: string): Promise<void> {
  const sql = await openHomeSql(home);
  try {
    await new TokenStore(sql).revoke(id);
  } finally {
    await sql.close();
  }
}

/** Owner secrets of the sessions opened here, by session id (only a session's opener may use it). */
const sessionOwners = new Map<string, string>();

/** The headers that make a request on `sessionId` its opener's: the key and the session's owner secret. */
export function sessionHeaders(key: string, sessionId: string): Record<string, string> {
  const token = sessionOwners.get(sessionId);
  return { 'x-api-key': key, ...(token && { 'x-session-token': token }) };
}

/** Opens an ingest session the way an agent's sender does. */
export async function openSession(url: string, key: string, agentId: string, pipeId: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}/api/v1/pipe/sessions`, {
    method: 'POST',
    headers: { 'x-api-key': key, 'content-type': 'application/json' },
    body: JSON.stringify({ agent_id: agentId, pipe_id: pipeId }),
  });
  const body = (await res.json()) as any;
  if (res.status === 201) sessionOwners.set(body.session_id, body.session_token);
  return { status: res.status, body };
}

/** Pushes file records into a session. */
export async function pushEvents(url: string, key: string, sessionId: string, paths: string[]): Promise<number> {
  const events = paths.map((path) => ({ op: 'upsert', path, type: 'file', size: 100, mtime_ms: 1_700_000_000_000, mode: 0o100644 }));
  const res = await fetch(`${url}/api/v1/pipe/sessions/${sessionId}/events`, {
    method: 'POST',
    headers: { ...sessionHeaders(key, sessionId), 'content-type': 'application/json' },
    body: JSON.stringify({ events }),
  });
  await res.arrayBuffer();
  return res.status;
}

/** GET a JSON body with the admin token. */
export async function getJson(fusion: TestFusion, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fusion.api(path, { headers: { accept: 'application/json', ...headers } });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}
