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
  /**
   * Fusion does not know the credential (e.g. it was restored from a backup):
   * the agent enrols again with its enrollment token.
   */
  CredentialUnknown: 'credential_unknown',
  /** The credential's lifetime ran out, or an admin released the agent: the agent enrols again. */
  CredentialExpired: 'credential_expired',
  /** An enrollment token was presented for an agent id that holds a live credential. */
  AgentAlreadyEnrolled: 'agent_already_enrolled',
  /** The enrollment waits for an admin's approval; the agent asks again later. */
  EnrollmentPending: 'enrollment_pending',
  /** An admin rejected the enrollment of this agent id. */
  EnrollmentRejected: 'enrollment_rejected',
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
  CredentialUnknown: 4011,
  CredentialExpired: 4012,
  AgentAlreadyEnrolled: 4013,
  EnrollmentPending: 4014,
  EnrollmentRejected: 4015,
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
  credential_unknown: CloseCode.CredentialUnknown,
  credential_expired: CloseCode.CredentialExpired,
  agent_already_enrolled: CloseCode.AgentAlreadyEnrolled,
  enrollment_pending: CloseCode.EnrollmentPending,
  enrollment_rejected: CloseCode.EnrollmentRejected,
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
  CloseCode.AgentAlreadyEnrolled,
  CloseCode.EnrollmentRejected,
]);

/**
 * Refusals of a credential after which the agent enrols again with its
 * enrollment token (when that still allows it), so no fault on Fusion's side
 * (a restore from backup, a lapse) locks an agent out. A revocation is not one.
 */
export const REENROLL_ERROR_CODES: ReadonlySet<string> = new Set([ErrorCode.CredentialUnknown, ErrorCode.CredentialExpired]);
