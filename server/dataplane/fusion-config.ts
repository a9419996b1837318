import { z } from 'zod';
import { parseDocumentText, type ConfigIssue } from '../../shared/config/index.js';
import { knownFusionDrivers } from './fusion-drivers.js';

/**
 * The model of `$FUSTOR_HOME/fusion.yaml`: who may push data into Fusion
 * (receivers and their API keys), where it lands (views) and how the two are
 * wired (pipes). Loading and writing the file live in fusion-config-file.ts.
 */

/** An id used as a key of receivers, views or pipes. */
const FusionId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, dot, dash and underscore; starting with a letter or digit');

const ApiKey = z.string().min(1).max(4096);

/** An API key a sender presents (X-API-Key) and the Fusion pipe its data feeds. */
export const ReceiverApiKey = z.object({ key: ApiKey, pipe_id: z.string().min(1) }).strict();

/** An ingest endpoint; `http` is the session API under /api/v1/pipe. */
export const ReceiverConfig = z
  .object({
    driver: z.string().min(1),
    /** A session silent for longer than this ends, in seconds. */
    session_timeout_seconds: z.number().positive().max(24 * 3600).default(30),
    /** How often senders should heartbeat, in seconds; told to them when they open a session. */
    heartbeat_interval_seconds: z.number().positive().max(3600).default(10),
    api_keys: z.array(ReceiverApiKey).default([]),
  })
  .strict();

/** An indexed tree of what the pipes feeding it report; `fs` is the in-memory file tree. */
export const ViewConfig = z
  .object({
    driver: z.string().min(1),
    /** Keys that may query this view, besides the keys of receivers feeding it. */
    api_keys: z.array(ApiKey).optional(),
  })
  .strict();

/** Wires one receiver to the views its data lands in. */
export const FusionPipeConfig = z
  .object({
    receiver: z.string().min(1),
    views: z.array(z.string().min(1)).min(1),
    /** A disabled pipe accepts no sessions; its open sessions end on reload. */
    disabled: z.boolean().default(false),
  })
  .strict();

export const FusionConfig = z
  .object({
    receivers: z.record(FusionId, ReceiverConfig).default({}),
    views: z.record(FusionId, ViewConfig).default({}),
    pipes: z.record(FusionId, FusionPipeConfig).default({}),
  })
  .strict();

export type FusionConfig = z.infer<typeof FusionConfig>;
export type ReceiverConfig = z.infer<typeof ReceiverConfig>;
export type ViewConfig = z.infer<typeof ViewConfig>;
export type FusionPipeConfig = z.infer<typeof FusionPipeConfig>;

export type FusionConfigCheck = { ok: true; config: FusionConfig } | { ok: false; errors: ConfigIssue[] };

/** A fusion config that failed to parse or validate; `issues` lists every problem with its path. */
export class FusionConfigError extends Error {
  readonly code = 'invalid_fusion_config';
  constructor(
    message: string,
    readonly issues: ConfigIssue[],
  ) {
    super(`${message}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
    this.name = 'FusionConfigError';
  }
}

/**
 * Full validation of a fusion config: schema first, then known drivers and
 * reference integrity (pipes name existing receivers and views, every API key
 * names an existing pipe fed by its receiver, no key appears twice). Returns
 * every problem with its path; on success the config has its defaults filled in.
 */
export function validateFusionConfig(document: unknown): FusionConfigCheck {
  const parsed = FusionConfig.safeParse(document ?? {});
  if (!parsed.success) {
    return {
      ok: false,
      errors: parsed.error.issues.map((i) => ({ path: i.path.length ? i.path.map(String).join('.') : '(root)', message: i.message })),
    };
  }
  const config = parsed.data;
  const errors: ConfigIssue[] = [];
  checkDrivers(config, errors);
  checkPipes(config, errors);
  checkReceiverKeys(config, errors);
  checkViewKeys(config, errors);
  return errors.length ? { ok: false, errors } : { ok: true, config };
}

/** Parses fusion.yaml text (YAML alias and size limits of shared/config) and validates it. */
export function parseFusionConfigText(text: string, format: 'yaml' | 'json' = 'yaml'): FusionConfigCheck {
  const parsed = parseDocumentText(text, format);
  return parsed.ok ? validateFusionConfig(parsed.value) : parsed;
}

function checkDrivers(config: FusionConfig, errors: ConfigIssue[]): void {
  const receivers = knownFusionDrivers('receiver');
  for (const [id, receiver] of Object.entries(config.receivers)) {
    if (!receivers.includes(receiver.driver)) {
      errors.push({ path: `receivers.${id}.driver`, message: `unknown receiver driver "${receiver.driver}"; known: ${receivers.join(', ')}` });
    }
    if (receiver.heartbeat_interval_seconds >= receiver.session_timeout_seconds) {
      errors.push({
        path: `receivers.${id}.heartbeat_interval_seconds`,
        message: `must be shorter than session_timeout_seconds (${receiver.session_timeout_seconds}), or sessions time out between heartbeats`,
      });
    }
  }
  const views = knownFusionDrivers('view');
  for (const [id, view] of Object.entries(config.views)) {
    if (!views.includes(view.driver)) {
      errors.push({ path: `views.${id}.driver`, message: `unknown view driver "${view.driver}"; known: ${views.join(', ')}` });
    }
  }
}

function checkPipes(config: FusionConfig, errors: ConfigIssue[]): void {
  for (const [id, pipe] of Object.entries(config.pipes)) {
    if (!Object.hasOwn(config.receivers, pipe.receiver)) {
      errors.push({ path: `pipes.${id}.receiver`, message: `unknown receiver "${pipe.receiver}"` });
    }
    const seen = new Set<string>();
    pipe.views.forEach((view, index) => {
      if (!Object.hasOwn(config.views, view)) errors.push({ path: `pipes.${id}.views.${index}`, message: `unknown view "${view}"` });
      else if (seen.has(view)) errors.push({ path: `pipes.${id}.views.${index}`, message: `view "${view}" is listed twice` });
      seen.add(view);
    });
  }
}

function checkReceiverKeys(config: FusionConfig, errors: ConfigIssue[]): void {
  const firstUse = new Map<string, string>();
  for (const [id, receiver] of Object.entries(config.receivers)) {
    receiver.api_keys.forEach((entry, index) => {
      const path = `receivers.${id}.api_keys.${index}`;
      const pipe = Object.hasOwn(config.pipes, entry.pipe_id) ? config.pipes[entry.pipe_id] : undefined;
      if (!pipe) {
        errors.push({ path: `${path}.pipe_id`, message: `unknown pipe "${entry.pipe_id}"` });
      } else if (pipe.receiver !== id) {
        errors.push({ path: `${path}.pipe_id`, message: `pipe "${entry.pipe_id}" is fed by receiver "${pipe.receiver}", not "${id}"` });
      }
      // The message names where the key was first seen, never the key itself.
      const earlier = firstUse.get(entry.key);
      if (earlier) errors.push({ path: `${path}.key`, message: `the same key is already used at ${earlier}` });
      else firstUse.set(entry.key, path);
    });
  }
}

function checkViewKeys(config: FusionConfig, errors: ConfigIssue[]): void {
  for (const [id, view] of Object.entries(config.views)) {
    const seen = new Set<string>();
    view.api_keys?.forEach((key, index) => {
      if (seen.has(key)) errors.push({ path: `views.${id}.api_keys.${index}`, message: 'the same key is listed twice' });
      seen.add(key);
    });
  }
}
