import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { AGENT_ID_HEADER, AgentId } from '../../shared/protocol/index.js';
import { Authenticator } from '../auth/authenticator.js';
import { bearerToken } from '../auth/secrets.js';
import type { TokenStore } from '../auth/token-store.js';
import { alreadyEnrolled } from '../auth/enrollment.js';

export type UpgradeAuth =
  | {
      ok: true;
      agentId: string;
      tokenId: string;
      tokenKind: 'enrollment' | 'agent';
      expiresAt: number | null;
      /** Group of the enrollment token the agent enrols or enrolled with, if it names one. */
      enrollmentGroup: string | null;
    }
  | { ok: false; status: number; code: string; message: string; retryAfterSeconds?: number };

/**
 * Authenticates a WebSocket upgrade before any socket exists: the agent id
 * header must be a valid id and the Bearer token a per-agent credential bound
 * to that same agent id, or a live enrollment token for an id that holds no
 * live credential (409 `agent_already_enrolled` otherwise: the enrolled agent
 * is not touched). The enrollment itself happens at `hello` (see enroll-on-hello.ts).
 */
export async function authenticateUpgrade(req: IncomingMessage, tokens: TokenStore): Promise<UpgradeAuth> {
  const rawId = req.headers[AGENT_ID_HEADER];
  const id = AgentId.safeParse(Array.isArray(rawId) ? rawId[0] : rawId);
  if (!id.success) {
    return { ok: false, status: 400, code: 'bad_request', message: `missing or invalid ${AGENT_ID_HEADER} header` };
  }
  const authenticator = Authenticator.for(tokens);
  const auth = await authenticator.agent(req, id.data);
  if (!auth.ok) return auth;
  if (auth.kind === 'enrollment' && (await tokens.credentials.hasLive(id.data))) {
    authenticator.limiter.fail(authenticator.addressOf(req), bearerToken(req.headers.authorization));
    const refusal = alreadyEnrolled(id.data);
    return { ok: false, status: refusal.status, code: refusal.code, message: refusal.message };
  }
  return {
    ok: true,
    agentId: id.data,
    tokenId: auth.token.id,
    tokenKind: auth.kind,
    expiresAt: auth.kind === 'agent' ? auth.token.expires_at : null,
    enrollmentGroup: await tokens.enrollmentGroup(auth.token),
  };
}

/** Answers a refused upgrade with a plain HTTP response and closes the TCP socket. */
export function rejectUpgrade(socket: Duplex, status: number, code: string, message: string, retryAfterSeconds?: number): void {
  const body = JSON.stringify({ error: { code, message } });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Connection: close\r\nContent-Type: application/json\r\n' +
      (retryAfterSeconds ? `Retry-After: ${retryAfterSeconds}\r\n` : '') +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  socket.once('error', () => socket.destroy());
  setTimeout(() => socket.destroy(), 1000).unref();
}
