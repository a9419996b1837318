import type { Server as TlsServer } from 'node:tls';
import type { Logger } from '../../shared/logger.js';

/** Warnings written per window at most; the rest are counted and reported with the next one. */
const MAX_WARNINGS_PER_WINDOW = 20;
const WINDOW_MS = 60_000;

/**
 * Logs every failed TLS handshake (a client certificate refused by mutual
 * TLS, an untrusted server certificate, a plain-HTTP client on the TLS port)
 * as a warning that names TLS, the peer and OpenSSL's reason. Without it
 * Node drops such a socket silently, and the agent side sees only "socket
 * hang up". A client that handshakes badly in a loop cannot flood the log:
 * past the budget of a window the failures are only counted.
 */
export function logTlsClientErrors(server: TlsServer, log: Logger): void {
  let windowStart = 0;
  let written = 0;
  let suppressed = 0;
  server.on('tlsClientError', (err: Error & { code?: string; reason?: string }, socket) => {
    const now = Date.now();
    if (now - windowStart >= WINDOW_MS) {
      windowStart = now;
      written = 0;
    }
    if (written >= MAX_WARNINGS_PER_WINDOW) {
      suppressed++;
      return;
    }
    written++;
    log.warn(
      {
        remote: socket.remoteAddress,
        tlsError: err.code ?? 'unknown',
        reason: err.reason ?? err.message.split('\n')[0],
        ...(suppressed > 0 && { suppressedSinceLast: suppressed }),
      },
      'TLS handshake with a client failed (with mutual TLS: no client certificate, or one the configured CA did not sign)',
    );
    suppressed = 0;
  });
}
