import type { RequestHandler, Response } from 'express';
import { StorageError } from '../store/storage-errors.js';

/**
 * Flushes the agents' batched writes (Sql.flush) before any byte of an answer
 * is written, so a 2xx never leaves ahead of a write it acknowledges, whatever
 * joined the batch meanwhile. `end` waits for the flush; when it fails the
 * write is gone, and a success answer still unsent becomes the storage error.
 * A streamed answer writes its head at once: a failed flush there closes the
 * connection, so the client sees no complete success.
 */
export function commitBeforeAnswer(flush: () => Promise<void>, log: { error(obj: object, msg: string): void }): RequestHandler {
  return (req, res, next) => {
    const end = res.end;
    const writeHead = res.writeHead;
    res.end = function (this: Response, ...args: unknown[]) {
      if (this.headersSent) return (end as (...a: unknown[]) => Response).apply(this, args);
      flush().then(
        () => (end as (...a: unknown[]) => Response).apply(this, args),
        (err: unknown) => {
          const failure = asStorageError(err);
          if (this.statusCode >= 400) return (end as (...a: unknown[]) => Response).apply(this, args);
          log.error({ code: failure.code, method: req.method, path: req.path }, 'commit before the answer failed; answering with the storage error');
          const body = JSON.stringify({ error: { code: failure.code, message: failure.message } });
          this.status(failure.status).set({ 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)) });
          this.removeHeader('etag');
          return end.call(this, body, 'utf8');
        },
      );
      return this;
    } as Response['end'];
    res.writeHead = function (this: Response, ...args: unknown[]) {
      flush().catch((err: unknown) => {
        log.error({ code: asStorageError(err).code, method: req.method, path: req.path }, 'commit before a streamed answer failed; closing it');
        this.destroy();
      });
      return (writeHead as (...a: unknown[]) => Response).apply(this, args);
    } as Response['writeHead'];
    next();
  };
}

function asStorageError(err: unknown): StorageError {
  return StorageError.from(err) ?? new StorageError('storage_error', err instanceof Error ? err.message : String(err));
}
