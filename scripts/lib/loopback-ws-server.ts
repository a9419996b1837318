import { WebSocketServer, type WebSocket } from 'ws';

/**
 * A plain `ws` server on 127.0.0.1 and a free port, as the benchmarks'
 * reference servers use it (no compression, a long accept queue); resolves
 * once it listens. Socket errors end in 'close' and are otherwise ignored.
 */
export async function listenLoopback(onConnection: (ws: WebSocket) => void): Promise<{ server: WebSocketServer; port: number }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, backlog: 511 });
  server.on('connection', (ws) => {
    ws.on('error', () => undefined);
    onConnection(ws);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve());
    server.once('error', reject);
  });
  return { server, port: (server.address() as { port: number }).port };
}

/** Drops every client and closes the server. */
export async function closeLoopback(server: WebSocketServer): Promise<void> {
  for (const client of server.clients) client.terminate();
  await new Promise((resolve) => server.close(resolve));
}
