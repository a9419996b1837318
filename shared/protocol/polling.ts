/**
 * The polling transport's HTTP messages, for agents that cannot keep a
 * WebSocket: what a pull may say about the agent besides its id and
 * signature (as `hello` does on the socket), and the ACK / NACK it posts after
 * applying a pulled config (what `config_status` is on the socket). Fusion and
 * the agent parse with these schemas.
 */
import { z } from 'zod';
import { Attributes } from '../selector/labels.js';
import { AgentId, ConfigDocument, SecretValues, Signature } from './common.js';

/** Path of the endpoint a polling agent posts its ACK / NACK to, relative to Fusion's base URL. */
export const CONTROL_STATUS_PATH = '/api/v1/control/configs/status';

/**
 * Optional query parameters of a pull (`GET /api/v1/control/configs/pull`)
 * beside `agent_id`, `current_signature` and `current_secrets_digest` (the
 * `secrets_digest` of the answer the running config came with: with the
 * signature it decides between a 304 and a new answer after a rotation).
 */
export const PullIdentity = z.object({
  /**
   * Group named in the agent's bootstrap (`group:`): an agent in no group joins
   * it when it exists, as with `hello.group`; an admin's assignment wins.
   */
  group: z.string().min(1).max(128).optional(),
  /** Host name of the node the agent runs on (rendered as `${hostname}` when it joins a group). */
  hostname: z.string().min(1).max(255).optional(),
  /** Agent software version, as in `hello.agent_version`. */
  agent_version: z.string().min(1).max(64).optional(),
  /**
   * Seconds the agent waits between pulls (before its ±20% jitter). Fusion
   * shows the agent online while pulls keep coming within twice this plus the
   * jitter; 30 when absent.
   */
  poll_interval_sec: z.coerce.number().positive().max(86_400).optional(),
  /**
   * What the agent says about itself, as `hello.attributes`: a JSON object in
   * one query parameter (at most 4 KiB). Shown and searchable, never trusted.
   */
  attributes: z
    .string()
    .max(4096)
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'attributes must be a JSON object' });
        return z.NEVER;
      }
    })
    .pipe(Attributes)
    .optional(),
});
export type PullIdentity = z.infer<typeof PullIdentity>;

/**
 * Body of a 200 from the pull: the desired document (with its secret
 * references) and, when it references secrets, their values and the digest
 * of their versions, as in a `config` frame.
 */
export const PullAnswer = z.object({
  agent_id: AgentId,
  revision: z.number().int().nonnegative(),
  signature: Signature,
  document: ConfigDocument,
  secrets: SecretValues.optional(),
  secrets_digest: Signature.optional(),
});
export type PullAnswer = z.infer<typeof PullAnswer>;

/**
 * Body of `POST /api/v1/control/configs/status` (JSON, agent credentials as
 * on the pull): the outcome of applying a pulled config. Fusion records it as
 * it records a `config_status` frame. Answered with 204.
 */
export const ConfigStatusReport = z.object({
  /** The agent reporting; must be the agent its token is valid for. */
  agent_id: AgentId,
  /** Signature of the pulled config this outcome is about. */
  signature: Signature,
  /** Fusion revision of that config, when known (the pull's `revision`). */
  revision: z.number().int().nonnegative().nullable().default(null),
  /** `applied`: the config runs now (ACK). `failed`: it was refused and the previous config keeps running (NACK). */
  status: z.enum(['applied', 'failed']),
  /** Why applying failed (status `failed` only). */
  error: z.string().max(16_384).optional(),
});
export type ConfigStatusReport = z.infer<typeof ConfigStatusReport>;
