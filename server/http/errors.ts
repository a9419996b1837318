import type { ErrorRequestHandler, RequestHandler } from 'express';
import { StorageError } from '../store/storage-errors.js';

/** An error with an HTTP status and a stable code; rendered as `{ error: { code, message, details? } }`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export const notFound = (what: string): HttpError => new HttpError(404, 'not_found', `${what} not found`);
export const badRequest = (message: string, details?: unknown): HttpError => new HttpError(400, 'bad_request', message, details);

/** 404 for any route no router answered. */
export const unknownRoute: RequestHandler = (req, _res, next) => {
  next(new HttpError(404, 'not_found', `no route for ${req.method} ${req.path}`));
};

/**
 * Renders every error as JSON. Body-parser errors (too large, bad JSON,
 * unsupported charset) keep their status; a storage failure (disk full,
 * read-only, I/O) is named (507 `storage_full`, 503 `storage_read_only` /
 * `storage_error`) and reported to `storage`; anything unexpected is a 500
 * whose details stay in the log.
 */
export function errorHandler(log: { error(obj: object, msg: string): void }, storage?: { record(outcome: unknown): void }): ErrorRequestHandler {
  return (err, req, res, _next) => {
    let error: HttpError;
    const storageError = StorageError.from(err);
    if (err instanceof HttpError) error = err;
    else if (storageError) {
      storage?.record(storageError);
      error = new HttpError(storageError.status, storageError.code, storageError.message);
    } else if (typeof err?.status === 'number' && err.status >= 400 && err.status < 500) {
      const code = err.type === 'entity.too.large' ? 'payload_too_large' : err.type === 'entity.parse.failed' ? 'invalid_json' : 'bad_request';
      error = new HttpError(err.status, code, err.message);
    } else {
      log.error({ err, method: req.method, path: req.path }, 'request failed');
      error = new HttpError(500, 'internal_error', 'internal error');
    }
    if (res.headersSent) return;
    res.locals.errorCode = error.code;
    res.status(error.status).json({ error: { code: error.code, message: error.message, ...(error.details !== undefined ? { details: error.details } : {}) } });
  };
}
