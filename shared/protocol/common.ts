import { z } from 'zod';

/** `sha256:<64 hex>`: the signature of a config document (see shared/config/signature). */
export const Signature = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'expected sha256:<64 hex digits>');

/** An agent id: what an operator names a node. Safe in URLs, file names and logs. */
export const AgentId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, dot, dash and underscore; starting with a letter or digit');

/** Where the config an agent runs came from. */
export const ConfigSource = z.enum(['remote', 'cache', 'local', 'none']);
export type ConfigSource = z.infer<typeof ConfigSource>;

/** One RFC 6902 JSON Patch operation. */
export const PatchOperation = z.object({
  /** The RFC 6902 operation. */
  op: z.enum(['add', 'remove', 'replace', 'move', 'copy', 'test']),
  /** RFC 6901 JSON Pointer to the target location. */
  path: z.string(),
  /** JSON Pointer to the source location (`move` and `copy`). */
  from: z.string().optional(),
  /** The value to add, replace with or test for (`add`, `replace`, `test`). */
  value: z.unknown().optional(),
});
export type PatchOperation = z.infer<typeof PatchOperation>;

/** A config document as it travels in a frame; its content is validated by shared/config before use. */
export const ConfigDocument = z.record(z.string(), z.unknown());
export type ConfigDocument = z.infer<typeof ConfigDocument>;

/** Milliseconds since the Unix epoch. */
export const EpochMs = z.number().int().nonnegative();

/**
 * Values of the secrets a config document references (`${secret:name}`),
 * by name, with the digest of their versions (see shared/config/secret-refs).
 * Sent only beside the document that references them, only to the agent that
 * runs it; never stored or logged by Fusion.
 */
export const SecretValues = z.record(z.string().max(128), z.string().max(16 * 1024)).refine((v) => Object.keys(v).length <= 1000, 'at most 1000 secrets');
export type SecretValues = z.infer<typeof SecretValues>;
