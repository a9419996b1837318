/**
 * The baseline server: a bare `ws` WebSocketServer on loopback that knows
 * nothing of Fustor. It broadcasts one payload to every client and times the
 * replies, so a benchmark can put Fusion's figures beside what the socket
 * layer alone costs.
 */
import { performance } from 'node:perf_hooks';
import type { WebSocket, WebSocketServer } from 'ws';
import { closeLoopback, listenLoopback } from './loopback-ws-server.js';
import { serveRpc } from './child-rpc.js';
import { memoryAfterGc } from './proc-stats.js';

let wss: WebSocketServer | null = null;
/** Reply handler of the broadcast in progress. */
let collect: ((client: WebSocket) => void) | null = null;

export interface BroadcastResult {
  clients: number;
  replies: number;
  /** Time to hand the payload to every socket, ms. */
  sendMs: number;
  /** Time from the first send to each client's reply, ms, in arrival order. */
  latencies: number[];
}

const handlers = {
  async listen(): Promise<number> {
    if (wss) throw new Error('already listening');
    const { server, port } = await listenLoopback((ws) => ws.on('message', () => collect?.(ws)));
    wss = server;
    return port;
  },
  connections(): number {
    return wss?.clients.size ?? 0;
  },
  /** Sends `payload` to every client and resolves once each replied once, or after `timeoutMs`. */
  broadcast(payload: string, timeoutMs: number): Promise<BroadcastResult> {
    const server = wss;
    if (!server) throw new Error('not listening');
    const clients = [...server.clients];
    const replied = new Set<WebSocket>();
    const latencies: number[] = [];
    return new Promise((resolve) => {
      const t0 = performance.now();
      let sendMs = 0;
      const finish = (): void => {
        clearTimeout(timer);
        collect = null;
        resolve({ clients: clients.length, replies: latencies.length, sendMs, latencies });
      };
      const timer = setTimeout(finish, timeoutMs);
      collect = (client) => {
        if (replied.has(client)) return;
        replied.add(client);
        latencies.push(performance.now() - t0);
        if (latencies.length === clients.length) finish();
      };
      for (const client of clients) client.send(payload);
      sendMs = performance.now() - t0;
    });
  },
  memory(): ReturnType<typeof memoryAfterGc> {
    return memoryAfterGc();
  },
  async close(): Promise<null> {
    const server = wss;
    wss = null;
    if (server) await closeLoopback(server);
    return null;
  },
};

export type BareServerHandlers = typeof handlers;

serveRpc(handlers, async () => {
  await handlers.close();
});
