import pino from 'pino';
import { FusionServer, type FusionOptions } from '../../server/fusion-server.js';
import { tempHome } from './temp-home.js';

export interface TestFusion {
  server: FusionServer;
  url: string;
  home: string;
  adminToken: string;
  enrollmentToken: string;
  /** fetch against Fusion with the admin token (unless headers say otherwise). */
  api(path: string, init?: RequestInit): Promise<Response>;
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
      ...options,
    });
  let server = make(options.port ?? 0);
  await server.start();
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
    async restart() {
      const port = server.port;
      await server.stop();
      server = make(port);
      await server.start();
    },
    async stop() {
      await server.stop();
      await temp?.remove();
    },
  };
  return handle;
}
