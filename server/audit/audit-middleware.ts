import type { RequestHandler, Response } from 'express';
import { maybeAdminOf } from '../auth/admin-auth.js';
import type { Logger } from '../../shared/logger.js';
import type { AuditStore } from './audit-store.js';

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Admin-facing API prefixes whose writes are audited (agent and data-plane traffic is not). */
const AUDITED = [/^\/api\/v1\/management\//, /^\/api\/v1\/control\/configs\/(?!pull)/];

/**
 * Records every admin write before its answer leaves: who (token name and
 * role), when, what (method, path, target), and the outcome (status, error
 * code). Refused writes (401 / 403) are recorded too, as `denied`. The entry
 * is stored before the answer's first byte (so a client that saw the answer
 * finds it, in the order its requests were answered); an answer streamed
 * before it ends is recorded once it has finished.
 */
export function auditWrites(store: AuditStore, log: Logger): RequestHandler {
  return (req, res, next) => {
    const [path = '', rawQuery] = req.originalUrl.split('?', 2);
    if (!WRITES.has(req.method) || !AUDITED.some((re) => re.test(path))) return next();
    const record = (): Promise<void> => {
      const admin = maybeAdminOf(req);
      const status = res.statusCode;
      return store
        .record({
          at: Date.now(),
          actor: admin?.name ?? null,
          token_id: admin?.id ?? null,
          role: admin?.role ?? null,
          address: req.socket.remoteAddress ?? null,
          method: req.method,
          path,
          query: auditedQuery(rawQuery),
          target: path.replace(/^\/api\/v1\/(management|control\/configs)\/?/, '').replace(/^([^/]+)$/, '$1') || null,
          status,
          outcome: status === 401 || status === 403 || status === 429 ? 'denied' : status >= 400 ? 'failure' : 'success',
          error_code: (res.locals.errorCode as string | undefined) ?? null,
          detail: auditDetailOf(res),
        })
        .catch((err: unknown) => log.error({ err, path }, 'cannot write the audit log'));
    };
    const end = res.end;
    res.end = function (this: Response, ...args: unknown[]) {
      res.end = end;
      if (this.headersSent) {
        this.once('finish', () => void record());
        return (end as (...a: unknown[]) => Response).apply(this, args);
      }
      void record().then(() => (end as (...a: unknown[]) => Response).apply(this, args));
      return this;
    } as Response['end'];
    next();
  };
}

/** Adds a line to the audit entry of this write (a route says what the path does not: who authored what it approved). */
export function auditDetail(res: Response, detail: string): void {
  res.locals.auditDetail = detail.slice(0, 2000);
}

function auditDetailOf(res: Response): string | null {
  return (res.locals.auditDetail as string | undefined) ?? null;
}

/**
 * Query parameters that carry a secret: kept by name, their value replaced.
 * `value` too: the secrets API takes values only in the body, but one put in
 * the query string by mistake must not land in the audit log.
 */
const SECRET_PARAMS = new Set(['access_token', 'token', 'value']);

/** The query string as recorded: null when empty, secret values redacted, at most 2,000 characters. */
export function auditedQuery(raw: string | undefined): string | null {
  if (!raw) return null;
  const params = new URLSearchParams(raw);
  for (const name of [...params.keys()]) if (SECRET_PARAMS.has(name.toLowerCase())) params.set(name, '[redacted]');
  const text = params.toString();
  return text === '' ? null : text.slice(0, 2000);
}
