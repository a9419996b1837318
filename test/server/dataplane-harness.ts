import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { createLogger } from '../../shared/logger.js';
import { createDataPlane, validateFusionConfig, writeFusionConfig, type DataPlane, type FusionConfig } from '../../server/dataplane/index.js';
import { tempHome } from '../harness/temp-home.js';

/** A data plane mounted where Fusion mounts it, served on port 0 from a temporary home. */
export interface DataPlaneHarness {
  plane: DataPlane;
  baseUrl: string;
  home: string;
  /**
   * Sends a request with an optional X-API-Key and JSON body; returns status,
   * headers and the parsed body. A session opened through it is remembered
   * with its owner secret, which later requests on that session present
   * (as its opener would) unless `sessionToken` says otherwise.
   */
  request(method: string, path: string, options?: { key?: string; body?: unknown; rawBody?: string; sessionToken?: string | null }): Promise<ApiAnswer>;
  close(): Promise<void>;
}

export interface ApiAnswer {
  status: number;
  headers: Headers;
  // Test code reads the answers by shape; `any` keeps the assertions short.
  body: any;
}

/**
 * Starts the data plane. With `config`, fusion.yaml is written first;
 * without it the data plane writes its default (and reports the new key).
 */
export async function startDataPlane(options: { config?: unknown; sweepIntervalMs?: number } = {}): Promise<DataPlaneHarness> {
  const home = await tempHome('fustor-dataplane-');
  let plane: DataPlane | undefined;
  let server: Server | undefined;
  try {
    if (options.config !== undefined) await writeFusionConfig(home.path, options.config as FusionConfig);
    plane = await createDataPlane({
      home: home.path,
      logger: createLogger('dataplane-test', 'silent'),
      ...(options.sweepIntervalMs === undefined ? {} : { sweepIntervalMs: options.sweepIntervalMs }),
    });
    const app = express();
    app.use('/api/v1/pipe', plane.ingestRouter);
    app.use('/api/v1/views', plane.viewsRouter);
    server = await new Promise<Server>((resolve, reject) => {
      const listening = app.listen(0, '127.0.0.1', (err?: Error) => (err ? reject(err) : resolve(listening)));
    });
  } catch (err) {
    plane?.stop();
    await home.remove();
    throw err;
  }
  const started = server;
  const startedPlane = plane;
  const baseUrl = `http://127.0.0.1:${(started.address() as AddressInfo).port}`;
  const owners = new Map<string, string>();
  return {
    plane: startedPlane,
    baseUrl,
    home: home.path,
    async request(method, path, { key, body, rawBody, sessionToken } = {}) {
      const headers: Record<string, string> = {};
      if (key !== undefined) headers['x-api-key'] = key;
      const sessionId = /^\/api\/v1\/pipe\/sessions\/([^/]+)/.exec(path)?.[1];
      const token = sessionToken === undefined ? (sessionId && owners.get(sessionId)) : sessionToken;
      if (token) headers['x-session-token'] = token;
      if (body !== undefined || rawBody !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(`${baseUrl}${path}`, {
        method,
        headers,
        ...(rawBody !== undefined ? { body: rawBody } : body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      const answer = { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
      if (path === '/api/v1/pipe/sessions' && res.status === 201) owners.set(answer.body.session_id, answer.body.session_token);
      return answer;
    },
    async close() {
      startedPlane.stop();
      started.closeAllConnections();
      await new Promise<void>((resolve) => started.close(() => resolve()));
      await home.remove();
    },
  };
}

/** A record as senders push them; fields not given take plain file defaults. */
export function record(op: 'upsert' | 'delete', path: string, fields: { type?: string; size?: number; mtime_ms?: number; mode?: number } = {}) {
  return { op, path, type: fields.type ?? 'file', size: fields.size ?? 0, mtime_ms: fields.mtime_ms ?? 1_700_000_000_000, mode: fields.mode ?? 0o100644 };
}

/** A fusion.yaml with two pipes into one shared view `shared` (keys `key-a`, `key-b`) and a private view `solo`. */
export function twoPipeConfig(overrides: { sessionTimeoutSeconds?: number; heartbeatSeconds?: number } = {}): FusionConfig {
  const check = validateFusionConfig({
    receivers: {
      main: {
        driver: 'http',
        session_timeout_seconds: overrides.sessionTimeoutSeconds ?? 30,
        heartbeat_interval_seconds: overrides.heartbeatSeconds ?? 10,
        api_keys: [
          { key: 'key-a-0123456789', pipe_id: 'pipe-a' },
          { key: 'key-b-0123456789', pipe_id: 'pipe-b' },
        ],
      },
    },
    views: { shared: { driver: 'fs', api_keys: ['view-reader-key'] }, solo: { driver: 'fs' } },
    pipes: { 'pipe-a': { receiver: 'main', views: ['shared', 'solo'] }, 'pipe-b': { receiver: 'main', views: ['shared'] } },
  });
  if (!check.ok) throw new Error(`test config is invalid: ${JSON.stringify(check.errors)}`);
  return check.config;
}

export const KEY_A = 'key-a-0123456789';
export const KEY_B = 'key-b-0123456789';
export const VIEW_KEY = 'view-reader-key';
