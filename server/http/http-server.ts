/** Fusion's HTTP(S) server: its pre-authentication time limits, TLS, and the URL it listens on. */
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer, Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import type { Logger } from '../../shared/logger.js';
import type { FusionOptions } from '../fusion-options.js';
import { logTlsClientErrors } from './tls-client-errors.js';

/** HTTPS when `tls` is given (asking for a client certificate when it requires one), else plain HTTP. */
export function createHttpServer(app: Express, o: Pick<FusionOptions, 'tls' | 'httpTimeouts'>, log: Logger): Server {
  const timeouts = {
    headersTimeout: o.httpTimeouts?.headersMs ?? 10_000,
    requestTimeout: o.httpTimeouts?.requestMs ?? 120_000,
    connectionsCheckingInterval: o.httpTimeouts?.checkMs ?? 1000,
  };
  const http = o.tls
    ? createHttpsServer({ ...timeouts, cert: o.tls.cert, key: o.tls.key, ...(o.tls.ca ? { ca: o.tls.ca } : {}), requestCert: Boolean(o.tls.requireClientCert), rejectUnauthorized: Boolean(o.tls.requireClientCert) }, app)
    : createServer(timeouts, app);
  if (http instanceof HttpsServer) logTlsClientErrors(http, log);
  return http;
}

/** Listens and resolves to the URL it listens on (the port the system picked for port 0). */
export async function listen(http: Server, o: Pick<FusionOptions, 'port' | 'host' | 'tls'>): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(o.port ?? 8102, o.host ?? '127.0.0.1', () => resolve());
  });
  const address = http.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${o.tls ? 'https' : 'http'}://${host}:${address.port}`;
}
