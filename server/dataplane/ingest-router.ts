import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { IngestGrant } from './api-keys.js';
import { checkApiKey } from './key-check.js';
import type { DataPlaneContext } from './context.js';
import { DataPlaneErrorCode, HttpError, jsonErrorHandler, parseOrThrow } from './http-errors.js';
import { checkEventsBody, EventsBody, MAX_EVENTS_PER_BATCH, OpenSessionBody } from './records.js';
import type { ViewOrigin } from './fs-view.js';
import type { SessionInfo } from './sessions.js';
import { jsonBody } from '../http/json-body.js';
import { treeIssue } from '../../shared/plain-tree.js';

/** Header carrying a session's owner secret on every request after the open. */
export const SESSION_TOKEN_HEADER = 'x-session-token';

/** Largest ingest request body: 10,000 records with long paths fit well within it. */
export const MAX_INGEST_BODY_BYTES = 16 * 1024 * 1024;

/**
 * The ingest API (contract 4), mounted at /api/v1/pipe. A sender presents its
 * receiver key (X-API-Key), opens a session for its pipe, heartbeats it and
 * pushes batches of records; each batch is validated whole, then applied to
 * every view of the session's Fusion pipe, or not at all.
 *
 * Authentication runs before the body is read, so an unknown caller cannot
 * make Fusion parse 16 MiB. A session is found only with a key of its own
 * pipe and the owner secret its opener was given (`session_token`, sent back
 * as `X-Session-Token`); anything else gets `session_not_found`, as if it did
 * not exist, so another holder of the pipe's key cannot push into or end it.
 */
export function createIngestRouter(ctx: DataPlaneContext): Router {
  const router = express.Router();
  router.use(authenticate(ctx));
  // An events batch is checked field by field (checkEventsBody); the tree walk runs only to explain a refusal.
  router.post('/sessions/:session_id/events', jsonBody(MAX_INGEST_BODY_BYTES, { walk: false }));
  router.use(jsonBody(MAX_INGEST_BODY_BYTES));

  router.post('/sessions', (req, res) => {
    const grant = grantOf(res);
    const body = parseOrThrow(OpenSessionBody, req.body, 'session request');
    const { config } = ctx;
    const pipe = config.pipes[grant.pipeId];
    const receiver = config.receivers[grant.receiverId];
    if (!pipe || !receiver) throw new HttpError(401, DataPlaneErrorCode.Unauthorized, 'unknown API key');
    if (pipe.disabled) throw new HttpError(403, DataPlaneErrorCode.PipeDisabled, `pipe "${grant.pipeId}" is disabled`);
    const session = ctx.sessions.open({
      agentId: body.agent_id,
      agentPipeId: body.pipe_id,
      pipeId: grant.pipeId,
      receiverId: grant.receiverId,
      viewIds: pipe.views,
      sourceUri: body.source_uri,
      timeoutMs: receiver.session_timeout_seconds * 1000,
    });
    res.status(201).json({
      session_id: session.session_id,
      pipe_id: session.pipe_id,
      view_ids: session.view_ids,
      role: session.role,
      session_timeout_seconds: receiver.session_timeout_seconds,
      heartbeat_interval_seconds: receiver.heartbeat_interval_seconds,
      session_token: session.owner_token,
    });
  });

  router.post('/sessions/:session_id/heartbeat', (req, res) => {
    const session = sessionOf(ctx, req, res);
    const role = ctx.sessions.touch(session.session_id);
    if (!role) throw sessionNotFound();
    res.json({ role });
  });

  router.post('/sessions/:session_id/events', (req, res) => {
    const events = (req.body as { events?: unknown } | undefined)?.events;
    if (Array.isArray(events) && events.length > MAX_EVENTS_PER_BATCH) {
      throw new HttpError(413, DataPlaneErrorCode.TooManyEvents, `a batch may carry at most ${MAX_EVENTS_PER_BATCH} events, got ${events.length}`);
    }
    const session = sessionOf(ctx, req, res);
    const batch = checkEventsBody(req.body) ?? parseOrThrow(EventsBody, walked(req.body), 'events batch');
    const now = Date.now();
    const origin = originOf(session);
    let removed = 0;
    for (const viewId of session.view_ids) {
      const view = ctx.views.get(viewId);
      if (view) removed = Math.max(removed, view.apply(batch.events, now, view.originOf(origin), batch.scan));
    }
    ctx.sessions.recordBatch(session.session_id, batch.events.length, batch.scan);
    res.json(batch.scan?.done ? { accepted: batch.events.length, removed } : { accepted: batch.events.length });
  });

  // `?retire=true`: the agent's pipe is going away (removed, or sending elsewhere now), so what it put in the views goes too.
  router.delete('/sessions/:session_id', (req, res) => {
    const session = sessionOf(ctx, req, res);
    if (req.query.retire === 'true') {
      const origin = originOf(session);
      for (const viewId of session.view_ids) {
        ctx.views.get(viewId)?.purge((o) => o.pipeId === origin.pipeId && o.agentId === origin.agentId && o.agentPipeId === origin.agentPipeId);
      }
    }
    ctx.sessions.close(session.session_id, 'closed');
    res.status(204).end();
  });

  router.use(jsonErrorHandler(ctx.logger));
  return router;
}

/** The body, once the tree walk (depth, reserved keys) found nothing; else the 400 it names. */
function walked(body: unknown): unknown {
  const issue = treeIssue(body);
  if (issue) throw new HttpError(400, issue.code, `invalid body at ${issue.path}: ${issue.message}`);
  return body;
}

function authenticate(ctx: DataPlaneContext) {
  return (req: Request, res: Response, next: NextFunction): void => {
    try {
      res.locals.grant = checkApiKey(ctx, req, res, ctx.access.ingest, '');
      next();
    } catch (err) {
      next(err);
    }
  };
}

function grantOf(res: Response): IngestGrant {
  return res.locals.grant as IngestGrant;
}

function sessionNotFound(): HttpError {
  return new HttpError(404, DataPlaneErrorCode.SessionNotFound, 'session not found or ended; open a new one');
}

/** The session named in the URL, if it is open and belongs to the caller's pipe. */
function sessionOf(ctx: DataPlaneContext, req: Request, res: Response): SessionInfo {
  const id = req.params.session_id;
  const session = typeof id === 'string' ? ctx.sessions.get(id) : undefined;
  if (!session || session.pipe_id !== grantOf(res).pipeId || !ctx.sessions.isOwner(session.session_id, req.get(SESSION_TOKEN_HEADER))) throw sessionNotFound();
  return session;
}

/** Who reported what a session pushes: its Fusion pipe and the agent's pipe behind it. */
function originOf(session: SessionInfo): ViewOrigin {
  return { pipeId: session.pipe_id, agentId: session.agent_id, agentPipeId: session.agent_pipe_id };
}
