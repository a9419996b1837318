import { isUtf8 } from 'node:buffer';
import type { z } from 'zod';
import { treeIssue } from '../plain-tree.js';
import { DEFAULT_MAX_FRAME_BYTES, FRAME_TYPE_MAX_BYTES } from './version.js';
import { ErrorCode } from './codes.js';

/** Result of decoding one message: a typed frame, or a stable error code and message. */
export type DecodeResult<T> =
  | { ok: true; frame: T }
  | { ok: false; code: ErrorCode; message: string; details?: unknown };

/**
 * The one codec both sides use: size limit, UTF-8 check, JSON parse, nesting
 * depth and reserved keys (see shared/plain-tree.ts), schema check.
 * Never throws; a bad message yields `{ ok: false }` with a code for the error frame and close status.
 */
export function decodeFrame<S extends z.ZodType>(
  schema: S,
  data: string | Buffer | ArrayBuffer | Buffer[],
  maxBytes: number = DEFAULT_MAX_FRAME_BYTES,
): DecodeResult<z.infer<S>> {
  const bytes = typeof data === 'string' ? undefined : toBuffer(data);
  const size = bytes ? bytes.length : Buffer.byteLength(data as string, 'utf8');
  if (size > maxBytes) {
    return { ok: false, code: ErrorCode.FrameTooLarge, message: `frame of ${size} bytes exceeds the limit of ${maxBytes}` };
  }
  if (bytes && !isUtf8(bytes)) return { ok: false, code: ErrorCode.ProtocolError, message: 'frame is not valid UTF-8' };
  let value: unknown;
  try {
    value = JSON.parse(bytes ? bytes.toString('utf8') : (data as string));
  } catch (err) {
    return { ok: false, code: ErrorCode.ProtocolError, message: `frame is not JSON: ${(err as Error).message}` };
  }
  const issue = treeIssue(value);
  if (issue) return { ok: false, code: ErrorCode.ProtocolError, message: `frame at ${issue.path}: ${issue.message}`, details: { path: issue.path } };
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const type = typeof value === 'object' && value !== null && 'type' in value ? String((value as { type: unknown }).type) : '?';
    const issues = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    return {
      ok: false,
      code: ErrorCode.ProtocolError,
      message: `frame of type "${type}" failed its schema: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`,
      details: issues,
    };
  }
  const type = (parsed.data as { type?: unknown }).type;
  const typeLimit = typeof type === 'string' && Object.hasOwn(FRAME_TYPE_MAX_BYTES, type) ? FRAME_TYPE_MAX_BYTES[type]! : Infinity;
  if (size > typeLimit) {
    return { ok: false, code: ErrorCode.FrameTooLarge, message: `${type} frame of ${size} bytes exceeds the limit of ${typeLimit} for ${type} frames` };
  }
  return { ok: true, frame: parsed.data };
}

/** Serialises a frame; the schema is the caller's compile-time contract. */
export function encodeFrame<T extends { type: string }>(frame: T): string {
  return JSON.stringify(frame);
}

function toBuffer(data: Buffer | ArrayBuffer | Buffer[]): Buffer {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  return data;
}
