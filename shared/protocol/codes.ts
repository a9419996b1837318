/**
 * Stable error codes. The same code travels in an `error` frame, names the
 * WebSocket close status (see {@link CloseCode}) and appears in HTTP error bodies.
 */
export const ErrorCode = {
  /** A frame was not JSON, too large, or failed its schema. */
  ProtocolError: 'protocol_error',
  /** Missing or unknown credential. */
  Unauthorized: 'unauthorized',
  /** The credential was valid once and has been revoked. */
  Revoked: 'revoked',
  /** `hello` named a protocol version Fusion does not speak. */
  UnsupportedVersion: 'unsupported_version',
  /** A newer connection of the same agent id took over. */
  Replaced: 'replaced',
  /** The peer stopped answering pings. */
  HeartbeatTimeout: 'heartbeat_timeout',
  /** Fusion is shutting down; the agent should come back after the hinted delay. */
  ServerShutdown: 'server_shutdown',
  /** A frame arrived out of order (e.g. anything before `hello`). */
  UnexpectedFrame: 'unexpected_frame',
  /** The peer sent frames faster than allowed. */
  RateLimited: 'rate_limited',
  /** A frame exceeded the size limit. */
  FrameTooLarge: 'frame_too_large',
  /** Something failed inside Fusion; the connection may be retried. */
  InternalError: 'internal_error',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * WebSocket close status codes (RFC 6455 private range 4000-4999 for ours).
 * Every code in {@link ErrorCode} that ends a connection has one here.
 */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 4000,
  Unauthorized: 4001,
  Revoked: 4002,
  UnsupportedVersion: 4003,
  Replaced: 4004,
  HeartbeatTimeout: 4005,
  ServerShutdown: 4006,
  UnexpectedFrame: 4007,
  RateLimited: 4008,
  FrameTooLarge: 4009,
  InternalError: 4010,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

const closeByError: Record<ErrorCode, CloseCode> = {
  protocol_error: CloseCode.ProtocolError,
  unauthorized: CloseCode.Unauthorized,
  revoked: CloseCode.Revoked,
  unsupported_version: CloseCode.UnsupportedVersion,
  replaced: CloseCode.Replaced,
  heartbeat_timeout: CloseCode.HeartbeatTimeout,
  server_shutdown: CloseCode.ServerShutdown,
  unexpected_frame: CloseCode.UnexpectedFrame,
  rate_limited: CloseCode.RateLimited,
  frame_too_large: CloseCode.FrameTooLarge,
  internal_error: CloseCode.InternalError,
};

/** The close status that goes with an error code. */
export function closeCodeFor(code: ErrorCode): CloseCode {
  return closeByError[code];
}

/** The error code a close status stands for, if it is one of ours. */
export function errorCodeForClose(status: number): ErrorCode | undefined {
  for (const [code, close] of Object.entries(closeByError)) {
    if (close === status) return code as ErrorCode;
  }
  return undefined;
}

/**
 * Close codes after which an agent must not simply reconnect with the same
 * credential: it would be refused again.
 */
export const FATAL_CLOSE_CODES: ReadonlySet<number> = new Set([
  CloseCode.Unauthorized,
  CloseCode.Revoked,
  CloseCode.UnsupportedVersion,
]);
