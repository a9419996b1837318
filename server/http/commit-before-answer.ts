import type { RequestHandler, Response } from 'express';
import { StorageError } from '../store/storage-errors.js';

/**
 * Commits the agents' open batch (group commit) before any byte of an answer
 * is written, so a 2xx never leaves ahead of a write it acknowledges, whatever
 * joined the batch meanwhile. When that commit fails the write is gone: a
 * success answer still unsent becomes the storage error instead.
 */
export function commitBeforeAnswer(commit: () => void, log: { error(obj: object, msg: string): void }): RequestHandler {
  return (req, res, next) => {
    const end = res.end;
    const writeHead = res.writeHead;
    res.end = function (this: Response, ...args: unknown[]) {
      if (!this.headersSent) {
        const failure = tryCommit(commit);
        if (failure && this.statusCode < 400) {
          log.error({ code: failure.code, method: req.method, path: req.path }, 'commit before the answer failed; answering with the storage error');
          const body = JSON.stringify({ error: { code: failure.code, message: failure.message } });
          this.status(failure.status).set({ 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)) });
          this.removeHeader('etag');
          return end.call(this, body, 'utf8');
        }
      }
      return (end as (...a: unknown[]) => Response).apply(this, args);
    } as Response['end'];
    // Streamed answers write their head before `end`.
    res.writeHead = function (this: Response, ...args: unknown[]) {
      const failure = tryCommit(commit);
      if (failure && typeof args[0] === 'number' && args[0] < 400) args[0] = failure.status;
      return (writeHead as (...a: unknown[]) => Response).apply(this, args);
    } as Response['writeHead'];
    next();
  };
}

function tryCommit(commit: () => void): StorageError | undefined {
  try {
    commit();
    return undefined;
  } catch (err) {
    return StorageError.from(err) ?? new StorageError('storage_error', err instanceof Error ? err.message : String(err));
  }
}
