import { z } from 'zod';
import { AgentId } from '../../shared/protocol/index.js';

/**
 * Request bodies of the ingest API (contract 4 of the shared contracts). A
 * batch is parsed whole before anything is applied, so a single bad record
 * rejects the whole request and no view changes.
 */

/** Most events one request may carry; more is answered 413 before parsing them. */
export const MAX_EVENTS_PER_BATCH = 10_000;

/** Longest record path accepted, in characters. */
export const MAX_RECORD_PATH_LENGTH = 4096;

/**
 * A path relative to the source root: "/"-separated, no leading or trailing
 * slash, no empty, "." or ".." segment, no NUL; "" is the root itself.
 */
export const RecordPath = z
  .string()
  .max(MAX_RECORD_PATH_LENGTH)
  .refine((path) => path === '' || isCleanRelativePath(path), {
    message: 'expected a path relative to the source root: "/"-separated, no leading slash, no empty, "." or ".." segment',
  });

export function isCleanRelativePath(path: string): boolean {
  // One pass over the characters: this runs for every record of every batch.
  let segmentStart = 0;
  for (let i = 0; i <= path.length; i++) {
    const c = i < path.length ? path.charCodeAt(i) : 47;
    if (c === 0) return false;
    if (c !== 47) continue;
    const length = i - segmentStart;
    if (length === 0) return false;
    if (length <= 2 && path.charCodeAt(segmentStart) === 46 && (length === 1 || path.charCodeAt(segmentStart + 1) === 46)) return false;
    segmentStart = i + 1;
  }
  return true;
}

export const EntryType = z.enum(['file', 'dir', 'symlink', 'other']);
export type EntryType = z.infer<typeof EntryType>;

/** One file-system fact: an entry exists with this metadata (`upsert`) or is gone (`delete`). */
export const FileRecord = z
  .object({
    op: z.enum(['upsert', 'delete']),
    path: RecordPath,
    type: EntryType,
    /** Bytes. */
    size: z.number().int().nonnegative(),
    /** Last modification, ms since the Unix epoch (may be fractional or before 1970). */
    mtime_ms: z.number().finite(),
    /** st_mode bits. */
    mode: z.number().int().nonnegative(),
  })
  .strip()
  .refine((record) => !(record.op === 'upsert' && record.path === '' && record.type !== 'dir'), {
    message: 'the root ("") can only be a dir',
    path: ['type'],
  });
export type FileRecord = z.infer<typeof FileRecord>;

/** `POST /sessions`: an agent's pipe asks to push into the Fusion pipe its key belongs to. */
export const OpenSessionBody = z
  .object({
    agent_id: AgentId,
    /** The agent's own pipe id (the Fusion pipe comes from the API key). */
    pipe_id: z.string().min(1).max(128),
    /** Where the records come from, e.g. the source root; shown in listings. */
    source_uri: z.string().max(4096).optional(),
  })
  .strip();
export type OpenSessionBody = z.infer<typeof OpenSessionBody>;

/** Most paths a snapshot's last batch may name in `keep`. */
export const MAX_KEEP_PATHS = 1_000;

/**
 * Which snapshot a batch belongs to. A snapshot is complete for the subtree it
 * covers (`path`, the whole of it or, with `recursive: false`, its direct
 * children): when the batch marked `done` has been applied, every entry of
 * that subtree the snapshot's sender put in the view and the snapshot did not
 * report again is removed. `keep` names entries the walk could not read (their
 * contents are unknown, not gone): they and everything below them stay.
 */
export const ScanMarker = z
  .object({
    id: z.string().min(1).max(128),
    done: z.boolean().optional(),
    /** Root of the subtree the snapshot covers; "" (the default) is the whole source. */
    path: RecordPath.optional(),
    /** False when only the path and its direct children were walked; default true. */
    recursive: z.boolean().optional(),
    keep: z.array(RecordPath).max(MAX_KEEP_PATHS).optional(),
  })
  .strip();
export type ScanMarker = z.infer<typeof ScanMarker>;

/** `POST /sessions/:id/events`. */
export const EventsBody = z
  .object({
    events: z.array(FileRecord).max(MAX_EVENTS_PER_BATCH),
    scan: ScanMarker.optional(),
  })
  .strip();
export type EventsBody = z.infer<typeof EventsBody>;

const OPS = new Set(['upsert', 'delete']);
const TYPES = new Set(['file', 'dir', 'symlink', 'other']);

/**
 * The events body when it is valid, checked by hand (several times faster
 * than the schema on 10,000 records); null when anything is off, and the
 * caller then parses with {@link EventsBody} for the error details. Accepts
 * exactly what EventsBody accepts; unknown keys are left in place (nothing
 * reads them: a view copies the fields it keeps).
 */
export function checkEventsBody(body: unknown): EventsBody | null {
  if (typeof body !== 'object' || body === null) return null;
  const { events, scan } = body as { events?: unknown; scan?: unknown };
  if (!Array.isArray(events) || events.length > MAX_EVENTS_PER_BATCH) return null;
  for (const record of events as unknown[]) {
    if (typeof record !== 'object' || record === null) return null;
    const r = record as Record<string, unknown>;
    const path = r.path;
    if (typeof path !== 'string' || path.length > MAX_RECORD_PATH_LENGTH || (path !== '' && !isCleanRelativePath(path))) return null;
    if (!OPS.has(r.op as string) || !TYPES.has(r.type as string)) return null;
    if (!Number.isSafeInteger(r.size) || (r.size as number) < 0 || !Number.isSafeInteger(r.mode) || (r.mode as number) < 0) return null;
    if (typeof r.mtime_ms !== 'number' || !Number.isFinite(r.mtime_ms)) return null;
    if (path === '' && r.op === 'upsert' && r.type !== 'dir') return null;
  }
  if (scan === undefined) return { events: events as FileRecord[] };
  const marker = ScanMarker.safeParse(scan);
  return marker.success ? { events: events as FileRecord[], scan: marker.data } : null;
}