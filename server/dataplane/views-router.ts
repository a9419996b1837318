import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import { checkApiKey } from './key-check.js';
import type { DataPlaneContext } from './context.js';
import { TreeTooLargeError, type FsView } from './fs-view.js';
import { DataPlaneErrorCode, HttpError, jsonErrorHandler, parseOrThrow } from './http-errors.js';
import { isCleanRelativePath, MAX_RECORD_PATH_LENGTH } from './records.js';
import type { SessionInfo } from './sessions.js';

/** A boolean query flag; a bare `?recursive` (empty value) means true. */
const Flag = z.enum(['true', 'false', '1', '0', 'yes', 'no', '']).transform((v) => v !== 'false' && v !== '0' && v !== 'no');

/** Query of `GET /:view_id/tree`. `path` may carry leading or trailing slashes; `/` and `""` are the root. */
const TreeQuery = z.object({
  path: z
    .string()
    .max(MAX_RECORD_PATH_LENGTH)
    .default('')
    .transform((p) => p.replace(/^\/+|\/+$/g, ''))
    .refine((p) => p === '' || isCleanRelativePath(p), { message: 'expected a path inside the view: no empty, "." or ".." segment' }),
  recursive: Flag.default(false),
  max_depth: z.coerce.number().int().min(0).max(10_000).optional(),
});

/**
 * Queries of the views (contract 4), mounted at /api/v1/views. A view opens
 * to any of its own API keys and to the keys of receivers whose pipes feed it.
 */
export function createViewsRouter(ctx: DataPlaneContext): Router {
  const router = express.Router();

  router.get('/:view_id/tree', authorizeView(ctx), (req, res) => {
    const query = parseOrThrow(TreeQuery, req.query, 'tree query');
    const view = viewOf(ctx, req);
    let node;
    try {
      node = view.tree(query.path, { recursive: query.recursive, maxDepth: query.max_depth });
    } catch (err) {
      if (err instanceof TreeTooLargeError) throw new HttpError(400, DataPlaneErrorCode.TreeTooLarge, err.message);
      throw err;
    }
    if (!node) throw new HttpError(404, DataPlaneErrorCode.PathNotFound, `no entry at "${query.path}" in view "${view.id}"`);
    res.json(node);
  });

  router.get('/:view_id/stats', authorizeView(ctx), (req, res) => {
    res.json(viewOf(ctx, req).stats());
  });

  router.get('/:view_id/sessions', authorizeView(ctx), (req, res) => {
    const view = viewOf(ctx, req);
    const body: ViewSessions = {
      view_id: view.id,
      leader_session_id: ctx.sessions.leaderOf(view.id) ?? null,
      sessions: ctx.sessions
        .list()
        .filter((s) => s.view_ids.includes(view.id))
        .map((s) => ({ ...s, role: s.leader_of.includes(view.id) ? 'leader' : 'follower' })),
    };
    res.json(body);
  });

  router.use(jsonErrorHandler(ctx.logger));
  return router;
}

/**
 * Answer of `GET /:view_id/sessions`: the open sessions feeding the view,
 * oldest first (the order in which they would take over as leader). A
 * session's `role` is its role in this view; `leader_of` lists every view it leads.
 */
export interface ViewSessions {
  view_id: string;
  leader_session_id: string | null;
  sessions: SessionInfo[];
}

function authorizeView(ctx: DataPlaneContext) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const viewId = String(req.params.view_id);
    const keys = ctx.access.views.get(viewId);
    if (!keys || !ctx.views.has(viewId)) {
      next(new HttpError(404, DataPlaneErrorCode.ViewNotFound, `no view "${viewId}"`));
      return;
    }
    try {
      checkApiKey(ctx, req, res, keys, ` for view "${viewId}"`);
      next();
    } catch (err) {
      next(err);
    }
  };
}

function viewOf(ctx: DataPlaneContext, req: Request): FsView {
  const viewId = String(req.params.view_id);
  const view = ctx.views.get(viewId);
  if (!view) throw new HttpError(404, DataPlaneErrorCode.ViewNotFound, `no view "${viewId}"`);
  return view;
}
