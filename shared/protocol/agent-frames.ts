/**
 * Frames an agent sends to Fusion (AgentToFusion). Each frame is one JSON text
 * message with a `type`; Fusion parses every incoming message with
 * {@link AgentToFusionFrame}.
 */
import { z } from 'zod';
import { Attributes } from '../selector/labels.js';
import { AgentId, ConfigDocument, ConfigSource, Signature } from './common.js';
import { MAX_STATUS_PIPES } from './version.js';
import { CredentialAckFrame } from './credentials.js';

/** First frame on every connection: who the agent is and which config it runs. */
export const HelloFrame = z.object({
  type: z.literal('hello'),
  /** Protocol version the agent speaks (see PROTOCOL_VERSION). */
  protocol_version: z.number().int().positive(),
  /** Must equal the agent id given at the upgrade. */
  agent_id: AgentId,
  /** Agent software version, e.g. "0.1.0". */
  agent_version: z.string().min(1).max(64),
  /** Host name of the node the agent runs on. */
  hostname: z.string().max(255).default(''),
  /** Optional features the agent supports, e.g. "patch", "commands". */
  capabilities: z.array(z.string().max(64)).max(64).default([]),
  /**
   * What the agent says about itself: `os`, `arch`, `hostname`, `agent_version`
   * and the bootstrap's `attributes:` (keys as label keys, values ≤ 256
   * characters, at most 64). Shown and searchable, never trusted for targeting.
   */
  attributes: Attributes.optional(),
  /**
   * Group named in the agent's bootstrap (`group:`). Fusion puts an agent that
   * is in no group into this one when it exists; an admin's assignment wins.
   */
  group: z.string().min(1).max(128).optional(),
  /** The config the agent runs now. */
  config: z.object({
    /** Signature of the running config; null when it runs none. */
    signature: Signature.nullable(),
    /** Fusion revision of the running config when it came from Fusion, else null. */
    revision: z.number().int().nonnegative().nullable(),
    /** Where the running config came from. */
    source: ConfigSource,
    /** `secrets_digest` of the config frame the running config came with, when it used secrets; a rotation since then is pushed. */
    secrets_digest: Signature.nullable().optional(),
  }),
});
export type HelloFrame = z.infer<typeof HelloFrame>;

/** ACK / NACK of a pushed config: sent when applying starts and when it ends. */
export const ConfigStatusFrame = z.object({
  type: z.literal('config_status'),
  /** Target signature this status is about. */
  signature: Signature,
  /** Fusion revision of that config, when known. */
  revision: z.number().int().nonnegative().nullable().default(null),
  /** `applying`: the agent accepted the document and is starting it; `applied`: it runs now (ACK); `failed`: it was refused or failed and the previous config keeps running (NACK). */
  status: z.enum(['applying', 'applied', 'failed']),
  /** Why applying failed (status `failed` only). */
  error: z.string().max(16_384).optional(),
  /** Pipe ids the apply started, stopped and restarted (status `applied`). */
  pipes: z
    .object({
      /** Pipes that did not run before and were started. */
      added: z.array(z.string()),
      /** Pipes that ran before and were stopped. */
      removed: z.array(z.string()),
      /** Pipes whose settings, source or sender changed, stopped and started again. */
      restarted: z.array(z.string()),
    })
    .optional(),
});
export type ConfigStatusFrame = z.infer<typeof ConfigStatusFrame>;

/** The agent could not rebuild the target from a patch and asks for the full document. */
export const ConfigRequestFrame = z.object({
  type: z.literal('config_request'),
  /** Signature the agent runs now (null when none). */
  current_signature: Signature.nullable(),
  /** Why the full document is needed, e.g. "signature mismatch after patch". */
  reason: z.string().max(1024),
});
export type ConfigRequestFrame = z.infer<typeof ConfigRequestFrame>;

/** The agent received a command and will run it. */
export const CommandAckFrame = z.object({
  type: z.literal('command_ack'),
  /** The `command_id` of the `command` frame received. */
  command_id: z.string().min(1).max(64),
});
export type CommandAckFrame = z.infer<typeof CommandAckFrame>;

/** The outcome of a command. */
export const CommandResultFrame = z.object({
  type: z.literal('command_result'),
  /** The `command_id` of the command this is the outcome of. */
  command_id: z.string().min(1).max(64),
  /** Terminal state of the command; a command that ran, was cancelled or could not run ends with one of these. */
  status: z.enum(['succeeded', 'failed']),
  /** What the command produced (status `succeeded`). */
  output: z.unknown().optional(),
  /** Why it failed (status `failed`). */
  error: z.string().max(16_384).optional(),
});
export type CommandResultFrame = z.infer<typeof CommandResultFrame>;

/**
 * The effective config the agent runs, sent in answer to `report_config`: the
 * document with its secret references (`${secret:name}`), never their values.
 */
export const ConfigReportFrame = z.object({
  type: z.literal('config_report'),
  /** The command this answers, when it answers one. */
  command_id: z.string().min(1).max(64).optional(),
  /** Signature of the config the agent runs (of its normalised document); null when it runs none. */
  signature: Signature.nullable(),
  /** Fusion revision of that config when it came from Fusion, else null. */
  revision: z.number().int().nonnegative().nullable(),
  /** Where that config came from. */
  source: ConfigSource,
  /** The normalised document the agent runs; null when it runs none. */
  document: ConfigDocument.nullable(),
});
export type ConfigReportFrame = z.infer<typeof ConfigReportFrame>;

/** How much of a pipe's source is watched for changes; what is not is covered by audits only. */
export const PipeRealtime = z.object({
  /** `on`: every directory watched; `partial`: some (see `reason`); `off`: none (realtime off, or no watch budget). */
  state: z.enum(['on', 'partial', 'off']),
  /** Directories watched. */
  watched_dirs: z.number().int().nonnegative(),
  /** Directories the last full walk found. */
  total_dirs: z.number().int().nonnegative(),
  /** Why realtime is off or partial. */
  reason: z.string().max(1024).optional(),
});
export type PipeRealtime = z.infer<typeof PipeRealtime>;

/** State of one pipe as the agent sees it. */
export const PipeStatus = z.object({
  /** The pipe's id (its key under `pipes` in the config). */
  id: z.string().min(1).max(128),
  /** `error`: the pipe failed `max_consecutive_errors` times in a row and retries with a backoff. */
  state: z.enum(['starting', 'running', 'error', 'stopped']),
  /** Records the pipe's sender has delivered since the pipe started. */
  records_sent: z.number().int().nonnegative().default(0),
  /** The last error the pipe met, null when none. */
  last_error: z.string().max(4096).nullable().default(null),
  /** Whether the pipe's source is watched for changes, and how much of it (absent from agents that do not watch). */
  realtime: PipeRealtime.optional(),
});
export type PipeStatus = z.infer<typeof PipeStatus>;

/**
 * The agent's pipes and the config it runs: sent at once when a pipe changes
 * state, at most once a second for counters, and at least every
 * `STATUS_INTERVAL_MS` even when nothing changed, so Fusion's view of what
 * the agent runs (and so its drift) is never older than that.
 */
export const StatusFrame = z.object({
  type: z.literal('status'),
  /**
   * Every pipe the agent runs (the whole list each time, not a change), at
   * most MAX_STATUS_PIPES; the frame at most FRAME_TYPE_MAX_BYTES.status bytes.
   */
  pipes: z.array(PipeStatus).max(MAX_STATUS_PIPES),
  /** The config the agent runs now, as in `hello.config` (optional for agents that predate it). */
  config: z
    .object({
      signature: Signature.nullable(),
      revision: z.number().int().nonnegative().nullable(),
      source: ConfigSource,
    })
    .optional(),
});
export type StatusFrame = z.infer<typeof StatusFrame>;

/** Every frame an agent may send. */
export const AgentToFusionFrame = z.discriminatedUnion('type', [
  HelloFrame,
  ConfigStatusFrame,
  ConfigRequestFrame,
  CommandAckFrame,
  CommandResultFrame,
  ConfigReportFrame,
  StatusFrame,
  CredentialAckFrame,
]);
export type AgentToFusionFrame = z.infer<typeof AgentToFusionFrame>;
