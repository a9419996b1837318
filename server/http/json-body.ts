import express, { type RequestHandler } from 'express';
import { treeIssue } from '../../shared/plain-tree.js';
import { HttpError } from './errors.js';

/**
 * The JSON body parser every route uses: express.json with a byte limit,
 * then a walk of the parsed body that refuses, with 400, nesting deeper than
 * MAX_DOCUMENT_DEPTH (`too_deep`) and reserved names such as `__proto__` or
 * `constructor` as keys (`reserved_key`, naming where), before any handler
 * copies or validates the body.
 */
export function jsonBody(limit: number | string): RequestHandler {
  const parse = express.json({ limit });
  return (req, res, next) => {
    parse(req, res, (err?: unknown) => {
      if (err) return next(err);
      const issue = treeIssue(req.body);
      if (!issue) return next();
      next(new HttpError(400, issue.code, `invalid body at ${issue.path}: ${issue.message}`, { path: issue.path }));
    });
  };
}
