import { z } from 'zod';

/** An id used as a key of sources, senders or pipes. */
const ComponentId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, dot, dash and underscore; starting with a letter or digit');

const Credential = z.object({ key: z.string().min(1).max(4096) }).catchall(z.unknown());

/** Where data comes from, e.g. a directory tree (`driver: fs`). */
export const SourceConfig = z
  .object({
    driver: z.string().min(1),
    uri: z.string().min(1).max(4096),
    credential: Credential.optional(),
    disabled: z.boolean().default(false),
    driver_params: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

/** Where data goes, e.g. a Fusion receiver (`driver: fusion`). */
export const SenderConfig = z
  .object({
    driver: z.string().min(1),
    uri: z.string().min(1).max(4096),
    credential: Credential.optional(),
    disabled: z.boolean().default(false),
    /** Records per push. */
    batch_size: z.number().int().positive().max(100_000).optional(),
    driver_params: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

/** Maps a source field to a target field name. */
const FieldMapping = z.object({ to: z.string().min(1), source: z.array(z.string().min(1)).min(1) }).strict();

/** A pipe names one source and one sender and says how they run together. */
export const PipeConfig = z
  .object({
    source: z.string().min(1),
    sender: z.string().min(1),
    disabled: z.boolean().default(false),
    /** Seconds between full audit rescans of the source. */
    audit_interval_sec: z.number().positive().max(31 * 24 * 3600).optional(),
    /** Push changes as the source sees them (default true); false leaves them to audits. */
    realtime: z.boolean().optional(),
    /** Seconds between sentinel checks (light-weight change probes). */
    sentinel_interval_sec: z.number().positive().max(24 * 3600).optional(),
    /** Seconds between session heartbeats to the receiver. */
    heartbeat_interval_sec: z.number().positive().max(3600).optional(),
    /** Errors in a row before the pipe is marked `error`. */
    max_consecutive_errors: z.number().int().positive().optional(),
    fields_mapping: z.array(FieldMapping).optional(),
  })
  .strict();

/** The whole agent config document (design §4). */
export const AgentConfig = z
  .object({
    /** When present it must equal the id of the agent that runs the config. */
    agent_id: z.string().optional(),
    logging: z
      .object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info') })
      .strict()
      .optional(),
    sources: z.record(ComponentId, SourceConfig).default({}),
    senders: z.record(ComponentId, SenderConfig).default({}),
    pipes: z.record(ComponentId, PipeConfig).default({}),
  })
  .strict();

export type AgentConfig = z.infer<typeof AgentConfig>;
export type SourceConfig = z.infer<typeof SourceConfig>;
export type SenderConfig = z.infer<typeof SenderConfig>;
export type PipeConfig = z.infer<typeof PipeConfig>;
