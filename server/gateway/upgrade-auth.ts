import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { AGENT_ID_HEADER, AgentId, ErrorCode } from '../../shared/protocol/index.js';
import { bearerToken } from '../auth/secrets.js';
import type { TokenStore } from '../auth/token-store.js';

export type UpgradeAuth =
  | { ok: true; agentId: string; tokenId: string; tokenKind: 'enrollment' | 'agent' }
  | { ok: false; status: number; code: string; message: string };

/**
 * Authenticates a WebSocket upgrade before any socket exists: the agent id
 * header must be a valid id and the Bearer token a live enrollment token, or
 * a per-agent credential bound to that same agent id.
 */
export function authenticateUpgrade(req: IncomingMessage, tokens: TokenStore): UpgradeAuth {
  const rawId = req.headers[AGENT_ID_HEADER];
  const id = AgentId.safeParse(Array.isArray(rawId) ? rawId[0] : rawId);
  if (!id.success) {
    return { ok: false, status: 400, code: 'bad_request', message: `missing or invalid ${AGENT_ID_HEADER} header` };
  }
  const secret = bearerToken(req.headers.authorization);
  if (!secret) return { ok: false, status: 401, code: ErrorCode.Unauthorized, message: 'missing Authorization: Bearer <token>' };
  const credential = tokens.verify('agent', secret);
  if (credential) {
    if (credential.agent_id !== id.data) {
      return { ok: false, status: 403, code: 'forbidden', message: 'this credential belongs to another agent' };
    }
    return { ok: true, agentId: id.data, tokenId: credential.id, tokenKind: 'agent' };
  }
  const enrollment = tokens.verify('enrollment', secret);
  if (!enrollment) return { ok: false, status: 401, code: ErrorCode.Unauthorized, message: 'unknown, expired or revoked token' };
  return { ok: true, agentId: id.data, tokenId: enrollment.id, tokenKind: 'enrollment' };
}

/** Answers a refused upgrade with a plain HTTP response and closes the TCP socket. */
export function rejectUpgrade(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Connection: close\r\nContent-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  socket.once('error', () => socket.destroy());
  setTimeout(() => socket.destroy(), 1000).unref();
}
