import type { z } from 'zod';
import { DEFAULT_MAX_FRAME_BYTES } from './version.js';
import { ErrorCode } from './codes.js';

/** Result of decoding one message: a typed frame, or a stable error code and message. */
export type DecodeResult<T> =
  | { ok: true; frame: T }
  | { ok: false; code: ErrorCode; message: string; details?: unknown };

/**
 * The one codec both sides use: size limit, JSON parse, schema check.
 * Never throws; a bad message yields `{ ok: false }` with a code for the error frame and close status.
 */
export function decodeFrame<S extends z.ZodType>(
  schema: S,
  data: string | Buffer | ArrayBuffer | Buffer[],
  maxBytes: number = DEFAULT_MAX_FRAME_BYTES,
): DecodeResult<z.infer<S>> {
  const text = toText(data);
  const size = Buffer.byteLength(text, 'utf8');
  if (size > maxBytes) {
    return { ok: false, code: ErrorCode.FrameTooLarge, message: `frame of ${size} bytes exceeds the limit of ${maxBytes}` };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, code: ErrorCode.ProtocolError, message: `frame is not JSON: ${(err as Error).message}` };
  }
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
  return { ok: true, frame: parsed.data };
}

/** Serialises a frame; the schema is the caller's compile-time contract. */
export function encodeFrame<T extends { type: string }>(frame: T): string {
  return JSON.stringify(frame);
}

function toText(data: string | Buffer | ArrayBuffer | Buffer[]): string {
  if (typeof data === 'string') return data;
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}
