import type { EventEmitter } from 'node:events';
import type { WebSocket } from 'ws';
import { ErrorCode } from '../../shared/protocol/index.js';
import type { AgentConnection } from './agent-connection.js';

/**
 * The ws library refuses some frames itself before our codec sees them: one
 * larger than its maxPayload (it would close with 1009) or one that breaks
 * the framing rules (1002). Its receiver reports the error and only then
 * closes, so a listener placed in front answers first with our own `error`
 * frame and close code (4009 `frame_too_large`, 4000 `protocol_error`); the
 * library's close then finds the socket closing and does nothing.
 */
export function onLibraryError(ws: WebSocket, conn: AgentConnection, maxFrameBytes: number): void {
  const receiver = (ws as unknown as { _receiver?: EventEmitter })._receiver;
  if (!receiver || typeof receiver.prependListener !== 'function') return;
  receiver.prependListener('error', (err: Error & { code?: string }) => {
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') conn.fail(ErrorCode.FrameTooLarge, `frame exceeds the limit of ${maxFrameBytes} bytes`);
    else conn.fail(ErrorCode.ProtocolError, `malformed WebSocket frame: ${err.message}`);
  });
}

