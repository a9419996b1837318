/**
 * Frames Fusion sends to an agent (FusionToAgent). The agent parses every
 * incoming message with {@link FusionToAgentFrame}.
 */
import { z } from 'zod';
import { ConfigDocument, EpochMs, PatchOperation, SecretValues, Signature } from './common.js';
import { CredentialFrame } from './credentials.js';

/** Answer to `hello`: the session is established. */
export const WelcomeFrame = z.object({
  type: z.literal('welcome'),
  /** Id of this connection, for logs on both sides. */
  session_id: z.string(),
  /** Protocol version Fusion speaks on this connection. */
  protocol_version: z.number().int().positive(),
  /** Fusion pings every this many milliseconds; the agent may treat silence past twice this as a dead server. */
  heartbeat_interval_ms: z.number().int().positive(),
  /** A per-agent credential, given once at enrollment; the agent stores it and uses it from then on. */
  credential: z.string().optional(),
  /** Epoch ms the credential of this connection (or the one given above) expires; absent for one without expiry. */
  credential_expires_at: EpochMs.optional(),
});
export type WelcomeFrame = z.infer<typeof WelcomeFrame>;

const configBase = {
  type: z.literal('config'),
  /** Fusion revision of the target config. */
  revision: z.number().int().nonnegative(),
  /** Signature the agent must reach after applying (of the document with its secret references, never of values). */
  signature: Signature,
  /**
   * Values of exactly the secrets the target document references, when it
   * references any. The agent substitutes them at apply time and keeps the
   * document with its references as what it runs and reports.
   */
  secrets: SecretValues.optional(),
  /** Digest of the versions of `secrets` (present with it); the agent replays it in `hello`. */
  secrets_digest: Signature.optional(),
};

/** The desired config as a whole document. */
export const FullConfigFrame = z.object({
  ...configBase,
  /** `full`: the whole document follows. */
  encoding: z.literal('full'),
  /** The normalised desired document; its signature is `signature`. */
  document: ConfigDocument,
});

/**
 * The desired config as a JSON Patch against a document the agent runs. An
 * empty patch to the signature the agent already runs, with `secrets`, is a
 * rotation: same document, new secret values.
 */
export const PatchConfigFrame = z.object({
  ...configBase,
  /** `patch`: an RFC 6902 patch against the document whose signature is `base_signature`. */
  encoding: z.literal('patch'),
  /** Signature of the document the patch applies to. */
  base_signature: Signature,
  /** RFC 6902 operations that turn the base document into the target, applied in order. */
  patch: z.array(PatchOperation).max(100_000),
});

/** The desired config: full document or patch. */
export const ConfigFrame = z.discriminatedUnion('encoding', [FullConfigFrame, PatchConfigFrame]);
export type ConfigFrame = z.infer<typeof ConfigFrame>;

/** A command to run. */
export const CommandFrame = z.object({
  type: z.literal('command'),
  /** Unique id of the command; a redelivered command keeps its id. */
  command_id: z.string().min(1).max(64),
  /**
   * What to run: one of the types in CommandArgs today. Any string parses,
   * so an agent older than a new command type still answers it (with a
   * failed `command_result`) instead of dropping the frame.
   */
  command_type: z.string().min(1).max(64),
  /** The command's arguments, as CommandArgs defines them for its type. */
  args: z.record(z.string(), z.unknown()),
  /** The command is void after this time (epoch ms); null for no expiry. */
  expires_at: EpochMs.nullable(),
});
export type CommandFrame = z.infer<typeof CommandFrame>;

/** An admin cancelled a command before the agent acknowledged it: do not run it. */
export const CommandCancelFrame = z.object({
  type: z.literal('command_cancel'),
  /** The command not to run. */
  command_id: z.string().min(1).max(64),
});
export type CommandCancelFrame = z.infer<typeof CommandCancelFrame>;

/** Something the peer sent was refused; usually followed by a close with the matching code. */
export const ErrorFrame = z.object({
  type: z.literal('error'),
  /** A stable code from ErrorCode. */
  code: z.string(),
  /** A human sentence naming the problem. */
  message: z.string(),
  /** Structured detail, e.g. the schema issues of a refused frame (`[{ path, message }]`). */
  details: z.unknown().optional(),
});
export type ErrorFrame = z.infer<typeof ErrorFrame>;

/** Fusion is about to close the connection; reconnect after `retry_after_ms` (plus jitter). */
export const ReconnectFrame = z.object({
  type: z.literal('reconnect'),
  /** Wait at least this long (milliseconds) before dialling again. */
  retry_after_ms: z.number().int().nonnegative(),
  /** Why, for the agent's log, e.g. "server shutdown". */
  reason: z.string(),
});
export type ReconnectFrame = z.infer<typeof ReconnectFrame>;

/** Every frame Fusion may send. */
export const FusionToAgentFrame = z.union([WelcomeFrame, ConfigFrame, CommandFrame, CommandCancelFrame, ErrorFrame, ReconnectFrame, CredentialFrame]);
export type FusionToAgentFrame = z.infer<typeof FusionToAgentFrame>;
