import { z } from 'zod';

/**
 * Label and attribute keys: what a selector can name. Letters, digits and
 * `._/-`, starting with a letter or digit, at most 63 characters — so
 * `__proto__` and friends can never be a key.
 */
export const LabelKey = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._/-]*$/, 'letters, digits and . _ / -, starting with a letter or digit');

/** A label value: the selector's value alphabet, possibly empty, at most 63 characters. */
export const LabelValue = z
  .string()
  .max(63)
  .regex(/^([A-Za-z0-9][A-Za-z0-9._/-]*)?$/, 'letters, digits and . _ / -, starting with a letter or digit');

export const MAX_LABELS = 64;

/**
 * Checks the keys of a raw object before it becomes a record: zod drops a
 * `__proto__` key silently, and a map whose keys are user-chosen must refuse
 * it instead, naming it.
 */
function keyedBy<T extends z.ZodType>(record: T) {
  return z
    .unknown()
    .superRefine((value, ctx) => {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return;
      const keys = Object.keys(value);
      if (keys.length > MAX_LABELS) ctx.addIssue({ code: 'custom', message: `at most ${MAX_LABELS} entries` });
      for (const key of keys) {
        if (!LabelKey.safeParse(key).success) ctx.addIssue({ code: 'custom', path: [key], message: `"${key.slice(0, 70)}" is not a valid key: letters, digits and . _ / -, starting with a letter or digit, at most 63 characters` });
      }
    })
    .pipe(record);
}

/** Admin-set labels of an agent: trusted, used by every selector. */
export const Labels = keyedBy(z.record(LabelKey, LabelValue));
export type Labels = z.infer<typeof Labels>;

/**
 * What an agent says about itself (os, arch, hostname, agent version and the
 * bootstrap's `attributes:`). Not trusted: shown and searchable, never used
 * to choose agents for a change.
 */
export const Attributes = keyedBy(z.record(LabelKey, z.string().max(256)));
export type Attributes = z.infer<typeof Attributes>;
