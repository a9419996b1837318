/**
 * An agent's identity on the wire: the frames that rotate its credential on
 * the socket, and the HTTP messages of the polling transport's enrollment
 * and rotation. Fusion and the agent parse with these schemas.
 */
import { z } from 'zod';
import { AgentId, EpochMs } from './common.js';

/** Path a polling agent enrols at (Bearer: its enrollment token). */
export const CONTROL_ENROLL_PATH = '/api/v1/control/enroll';
/** Path a polling agent asks for its next credential at (Bearer: its current credential). */
export const CONTROL_CREDENTIAL_PATH = '/api/v1/control/credential';
/**
 * Response header of an authenticated agent request (pull, status): `rotate`
 * when the credential presented should be replaced now (close to its expiry,
 * or an admin asked); the agent then posts to {@link CONTROL_CREDENTIAL_PATH}.
 */
export const CREDENTIAL_ROTATE_HEADER = 'x-fustor-credential';

/** A per-agent credential as Fusion hands it over. The secret is shown once. */
export const IssuedCredential = z.object({
  /** The secret the agent presents as `Authorization: Bearer <credential>` from now on. */
  credential: z.string().min(1).max(4096),
  /** Epoch ms after which Fusion refuses it; the agent is given a new one before then. */
  expires_at: EpochMs,
});
export type IssuedCredential = z.infer<typeof IssuedCredential>;

/**
 * Fusion → agent: the agent's next credential (rotation before expiry, or
 * asked by an admin). The agent stores it durably, then answers
 * `credential_ack`; the credential it used until now stays valid for a grace
 * period once Fusion has the ack (or sees the new one used).
 */
export const CredentialFrame = z.object({
  type: z.literal('credential'),
  ...IssuedCredential.shape,
});
export type CredentialFrame = z.infer<typeof CredentialFrame>;

/** Agent → Fusion: the credential of a `credential` frame is stored; Fusion retires the older one. */
export const CredentialAckFrame = z.object({
  type: z.literal('credential_ack'),
  /** Expiry of the credential acknowledged (echoes the frame), so Fusion knows which one is meant. */
  expires_at: EpochMs,
});
export type CredentialAckFrame = z.infer<typeof CredentialAckFrame>;

/** Body of `POST /api/v1/control/enroll` (Bearer: an enrollment token). */
export const EnrollRequest = z
  .object({
    agent_id: AgentId,
    /** Host name of the node (shown to an admin approving it). */
    hostname: z.string().min(1).max(255).optional(),
  })
  .strict();
export type EnrollRequest = z.infer<typeof EnrollRequest>;

/**
 * Answer of the enroll endpoint: 201 with the credential once enrolled; 202
 * with `status: pending` while an admin's approval is awaited (ask again later).
 */
export const EnrollResponse = z.union([
  z.object({ status: z.literal('enrolled'), agent_id: AgentId, ...IssuedCredential.shape }),
  z.object({ status: z.literal('pending'), agent_id: AgentId }),
]);
export type EnrollResponse = z.infer<typeof EnrollResponse>;
