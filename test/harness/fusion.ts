import pino from 'pino';
import { FusionServer, type FusionOptions } from '../../server/fusion-server.js';
import { RawAgentClient } from './raw-client.js';
import { tempHome } from './temp-home.js';
import { forgetHome, postgresUrlForHome, testDatabaseBackend } from './test-database.js';

export interface TestFusion {
  server: FusionServer;
  url: string;
  home: string;
  adminToken: string;
  enrollmentToken: string;
  /** fetch against Fusion with the admin token (unless headers say otherwise). */
  api(path: string, init?: RequestInit): Promise<Response>;
  /** An admin request with a JSON body (when given); resolves with the status and the parsed answer (null when empty). */
  json(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  /**
   * A raw protocol client for `agentId`, connected with the credential an
   * earlier raw client of that id was given in `welcome` (else the
   * enrollment token, so it enrols), or with `token`, and past `hello` →
   * `welcome` (unless `hello: false`); `stop()` terminates it, so a test
   * need not track it.
   */
  rawAgent(agentId: string, options?: { token?: string; hello?: boolean }): Promise<RawAgentClient>;
  /** The credential raw clients of `agentId` were given, if any. */
  credentialOf(agentId: string): string | undefined;
  /** Stops and starts Fusion again on the same home and port (a clean restart). */
  restart(): Promise<void>;
  /** Stops Fusion and removes its home (unless it was given). */
  stop(): Promise<void>;
}

export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789';
export const TEST_ENROLLMENT_TOKEN = 'test-enrollment-token-0123456789';

/**
 * Starts a real Fusion on 127.0.0.1, port 0, with a temporary home (or the
 * given one), known tokens, fast heartbeats and a silent logger.
 */
export async function startFusion(options: Partial<FusionOptions> = {}): Promise<TestFusion> {
  const temp = options.home ? undefined : await tempHome('fusion-');
  const home = options.home ?? temp!.path;
  // FUSION_TEST_DATABASE=postgres: the state lives in a PostgreSQL schema of this home's own.
  const databaseUrl = options.databaseUrl ?? (testDatabaseBackend() === 'postgres' ? await postgresUrlForHome(home) : undefined);
  const make = (port: number): FusionServer =>
    new FusionServer({
      home,
      host: '127.0.0.1',
      port,
      adminToken: TEST_ADMIN_TOKEN,
      enrollmentToken: TEST_ENROLLMENT_TOKEN,
      heartbeatIntervalMs: 1000,
      shutdownRetryAfterMs: 50,
      commandSweepIntervalMs: 50,
      logger: pino({ level: process.env.FUSTOR_TEST_LOG ?? 'silent' }),
      ...(databaseUrl !== undefined ? { databaseUrl } : {}),
      ...options,
    });
  let server = make(options.port ?? 0);
  await server.start();
  const clients: RawAgentClient[] = [];
  const handle: TestFusion = {
    get server() {
      return server;
    },
    get url() {
      return server.url;
    },
    home,
    adminToken: TEST_ADMIN_TOKEN,
    enrollmentToken: TEST_ENROLLMENT_TOKEN,
    api(path, init = {}) {
      const headers = new Headers(init.headers);
      if (!headers.has('authorization')) headers.set('authorization', `Bearer ${TEST_ADMIN_TOKEN}`);
      return fetch(`${server.url}${path}`, { ...init, headers });
    },
    async json(method, path, body) {
      const res = await handle.api(path, {
        method,
        ...(body !== undefined && { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, body: text ? (JSON.parse(text) as unknown) : null };
    },
    async rawAgent(agentId, { token, hello = true } = {}) {
      const client = token === undefined ? await RawAgentClient.connectAs(server.url, agentId, TEST_ENROLLMENT_TOKEN) : await RawAgentClient.connect(server.url, agentId, token);
      clients.push(client);
      if (hello) await client.hello();
      return client;
    },
    credentialOf(agentId) {
      return RawAgentClient.credentialOf(server.url, agentId);
    },
    async restart() {
      const port = server.port;
      await server.stop();
      server = make(port);
      await server.start();
    },
    async stop() {
      for (const client of clients.splice(0)) client.terminate();
      await server.stop();
      if (temp) {
        await temp.remove();
        await forgetHome(home);
      }
    },
  };
  return handle;
}
