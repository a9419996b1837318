/**
 * The baseline clients: N bare `ws` clients in one process that answer every
 * message with one small reply of the size of a `config_status` frame.
 */
import WebSocket from 'ws';
import { serveRpc } from './child-rpc.js';
import { memoryAfterGc } from './proc-stats.js';

const REPLY = JSON.stringify({
  type: 'config_status',
  signature: `sha256:${'0'.repeat(64)}`,
  revision: 2,
  status: 'applied',
  pipes: { added: [], removed: [], restarted: [] },
});

const clients: WebSocket[] = [];

const handlers = {
  /** Opens `count` connections to `url` with at most `maxConnecting` handshakes in flight; resolves with how many opened. */
  async connect(url: string, count: number, maxConnecting: number, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let inFlight = 0;
    let opened = 0;
    for (let i = 0; i < count; i++) {
      while (inFlight >= maxConnecting) {
        if (Date.now() > deadline) return opened;
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      inFlight += 1;
      const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 15_000 });
      clients.push(ws);
      let settled = false;
      const settle = (didOpen: boolean): void => {
        if (settled) return;
        settled = true;
        inFlight -= 1;
        if (didOpen) opened += 1;
      };
      // A failed handshake ends in 'close' (after 'error'); it is counted as not opened.
      ws.on('error', () => undefined);
      ws.once('open', () => settle(true));
      ws.once('close', () => settle(false));
      ws.on('message', () => ws.send(REPLY));
    }
    while (opened < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    return opened;
  },
  memory(): ReturnType<typeof memoryAfterGc> {
    return memoryAfterGc();
  },
  close(): null {
    for (const ws of clients.splice(0)) ws.terminate();
    return null;
  },
};

export type BareClientsHandlers = typeof handlers;

serveRpc(handlers, async () => {
  handlers.close();
});
