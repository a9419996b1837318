import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../../shared/logger.js';
import type { z } from 'zod';
import { HttpError as ApiError } from '../http/errors.js';

/**
 * Stable error codes of the data-plane HTTP API. They appear as `error.code`
 * in every JSON error body, so senders and dashboards can branch on them.
 */
export const DataPlaneErrorCode = {
  /** Missing X-API-Key, or a key that does not open this resource. */
  Unauthorized: 'unauthorized',
  /** A body or query string failed its schema; `details` lists every problem. */
  InvalidRequest: 'invalid_request',
  /** The body was not valid JSON. */
  InvalidJson: 'invalid_json',
  /** The body exceeded the size limit. */
  PayloadTooLarge: 'payload_too_large',
  /** A batch carried more events than one request may. */
  TooManyEvents: 'too_many_events',
  /** The session ended (timeout, close, reload); the sender opens a new one. */
  SessionNotFound: 'session_not_found',
  /** The Fusion pipe the key belongs to is disabled. */
  PipeDisabled: 'pipe_disabled',
  /** No view with this id is configured. */
  ViewNotFound: 'view_not_found',
  /** The view holds no entry at the requested path. */
  PathNotFound: 'path_not_found',
  /** The requested tree has more nodes than one answer may carry. */
  TreeTooLarge: 'tree_too_large',
  /** The body nests deeper than MAX_DOCUMENT_DEPTH. */
  TooDeep: 'too_deep',
  /** The body uses a reserved name (`__proto__`, `constructor`, ...) as a key. */
  ReservedKey: 'reserved_key',
  /** Too many unknown API keys from this address; wait Retry-After seconds. */
  RateLimited: 'rate_limited',
  /** Something failed inside Fusion. */
  InternalError: 'internal_error',
} as const;
export type DataPlaneErrorCode = (typeof DataPlaneErrorCode)[keyof typeof DataPlaneErrorCode];

/** One problem with a request, with the path to the offending field (dotted, `(root)` for the whole). */
export interface ErrorDetail {
  path: string;
  message: string;
}

/** An error that becomes a JSON error answer with its status and code. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: DataPlaneErrorCode,
    message: string,
    readonly details?: ErrorDetail[],
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Turns zod issues into error details, one per problem. */
export function issueDetails(error: z.ZodError): ErrorDetail[] {
  return error.issues.map((issue) => ({
    path: issue.path.length ? issue.path.map(String).join('.') : '(root)',
    message: issue.message,
  }));
}

/** Parses `value` with `schema` or throws a 400 listing every problem. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new HttpError(400, DataPlaneErrorCode.InvalidRequest, `invalid ${what}`, issueDetails(parsed.error));
  }
  return parsed.data;
}

/** Writes the JSON error body of common.md: `{ error: { code, message, details? } }`. */
export function sendError(res: Response, error: HttpError): void {
  const body: { code: string; message: string; details?: ErrorDetail[] } = { code: error.code, message: error.message };
  if (error.details) body.details = error.details;
  res.status(error.status).json({ error: body });
}

/** A refusal of the shared body parser (server/http/json-body.ts): `too_deep`, `reserved_key`. */
function fromApiError(err: ApiError): HttpError {
  const code = err.code === 'too_deep' || err.code === 'reserved_key' ? err.code : DataPlaneErrorCode.InvalidRequest;
  return new HttpError(err.status, code, err.message);
}

/** Body-parser failures carry a `type` and a `status`; these are the ones we answer in kind. */
function fromBodyParser(err: unknown): HttpError | undefined {
  const type = (err as { type?: unknown } | null)?.type;
  if (type === 'entity.too.large') return new HttpError(413, DataPlaneErrorCode.PayloadTooLarge, 'request body exceeds the size limit');
  if (type === 'entity.parse.failed') return new HttpError(400, DataPlaneErrorCode.InvalidJson, 'request body is not valid JSON');
  const status = (err as { status?: unknown } | null)?.status;
  if (typeof type === 'string' && typeof status === 'number' && status >= 400 && status < 500) {
    return new HttpError(status, DataPlaneErrorCode.InvalidRequest, (err as Error).message);
  }
  return undefined;
}

/**
 * The routers' last middleware: every error becomes a JSON error body, so the
 * routers answer alike wherever they are mounted. Unexpected errors are logged
 * and answered 500 without their message.
 */
export function jsonErrorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, next: NextFunction): void => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const known = err instanceof HttpError ? err : err instanceof ApiError && err.status < 500 ? fromApiError(err) : fromBodyParser(err);
    if (known) {
      sendError(res, known);
      return;
    }
    logger.error({ err, method: req.method, url: req.originalUrl }, 'data-plane request failed');
    sendError(res, new HttpError(500, DataPlaneErrorCode.InternalError, 'internal error'));
  };
}
