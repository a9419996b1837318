import express, { type Request, type RequestHandler } from 'express';
import { treeIssue } from '../../shared/plain-tree.js';
import { HttpError } from './errors.js';

/** Set on a request whose body a `walk: false` parser read: a parser mounted after it leaves the body alone. */
const LEFT_UNWALKED = Symbol('fustor.bodyLeftUnwalked');

/**
 * The JSON body parser every route uses: express.json with a byte limit,
 * then a walk of the parsed body that refuses, with 400, nesting deeper than
 * MAX_DOCUMENT_DEPTH (`too_deep`) and reserved names such as `__proto__` or
 * `constructor` as keys (`reserved_key`, naming where), before any handler
 * copies or validates the body. `walk: false` leaves the walk to a route
 * whose handler checks every field it reads by hand (ingest batches: 100,000
 * records a second would spend a tenth of Fusion's time in the walk); a
 * walking parser mounted after it on the same router does not walk that body.
 */
export function jsonBody(limit: number | string, options: { walk?: boolean } = {}): RequestHandler {
  const parse = express.json({ limit });
  if (options.walk === false) {
    return (req, res, next) => {
      parse(req, res, (err?: unknown) => {
        if (!err) (req as Request & { [LEFT_UNWALKED]?: true })[LEFT_UNWALKED] = true;
        next(err);
      });
    };
  }
  return (req, res, next) => {
    if ((req as Request & { [LEFT_UNWALKED]?: true })[LEFT_UNWALKED]) return next();
    parse(req, res, (err?: unknown) => {
      if (err) return next(err);
      const issue = treeIssue(req.body);
      if (!issue) return next();
      next(new HttpError(400, issue.code, `invalid body at ${issue.path}: ${issue.message}`, { path: issue.path }));
    });
  };
}
