import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Router, type Response } from 'express';
import type { Logger } from '../../shared/logger.js';
import type { DataPlaneHolder } from './holder.js';

/** Set on a request one replica forwards to another; a replica that does not serve the data plane never forwards it again. */
export const FORWARDED_HEADER = 'x-fusion-forwarded';
/** Answer header naming the replica that serves the data plane. */
export const HOLDER_HEADER = 'x-fusion-dataplane';

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'upgrade', 'host'];

export interface ForwardOptions {
  holder: DataPlaneHolder;
  replicaId: string;
  log: Logger;
  /** TLS material to reach the other replicas over https (their CA; our certificate for mutual TLS). */
  tls?: { ca?: string | Buffer | undefined; cert?: string | Buffer; key?: string | Buffer } | undefined;
  /** Longest a forwarded request may take, ms. Default 120 s (an ingest body of many MiB). */
  timeoutMs?: number;
}

/**
 * In front of the data-plane routes (`/api/v1/pipe`, `/api/v1/views`): the
 * replica that serves the data plane handles the request itself; any other
 * sends it, body streamed, to that replica and streams the answer back, so a
 * sender or a view client may use any replica's URL. When no replica serves it
 * yet (the holder just died; the lease moves within seconds) the answer is
 * 503 `dataplane_unavailable` with Retry-After, which senders retry.
 */
export function forwardDataPlane(options: ForwardOptions): Router {
  const { holder } = options;
  return Router().use((req, res, next) => {
    if (holder.serving) return next();
    if (req.headers[FORWARDED_HEADER] !== undefined) return unavailable(res, 'the replica this request was forwarded to no longer serves the data plane');
    holder.holderUrl().then(
      (url) => {
        if (url === undefined) return unavailable(res, 'no replica serves the data plane yet');
        const target = new URL(req.originalUrl, url);
        const headers: IncomingHttpHeaders = { ...req.headers };
        for (const name of HOP_BY_HOP) delete headers[name];
        headers[FORWARDED_HEADER] = options.replicaId;
        const from = req.socket.remoteAddress ?? '';
        headers['x-forwarded-for'] = req.headers['x-forwarded-for'] ? `${String(req.headers['x-forwarded-for'])}, ${from}` : from;
        const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
        const upstream = send(target, { method: req.method, headers, timeout: options.timeoutMs ?? 120_000, ...(target.protocol === 'https:' ? tlsOf(options.tls) : {}) }, (answer) => {
          const answerHeaders: IncomingHttpHeaders = { ...answer.headers, [HOLDER_HEADER]: url };
          // This connection's own framing is Node's to choose (chunked when the holder's answer was).
          for (const name of ['connection', 'keep-alive', 'transfer-encoding']) delete answerHeaders[name];
          res.writeHead(answer.statusCode ?? 502, answerHeaders);
          answer.pipe(res);
        });
        upstream.on('timeout', () => upstream.destroy(new Error('the data-plane holder did not answer in time')));
        upstream.on('error', (err) => {
          holder.forget();
          options.log.warn({ err: err.message, holder: url, path: req.path }, 'cannot forward a data-plane request to its holder');
          if (!res.headersSent) unavailable(res, `the replica serving the data plane (${url}) cannot be reached`, url);
          else res.destroy();
        });
        res.on('close', () => {
          if (!res.writableFinished) upstream.destroy();
        });
        req.pipe(upstream);
      },
      (err: unknown) => next(err),
    );
  });
}

/** Routes a non-holder must not answer itself (fusion.yaml: the holder's file is the one in force): 503 naming the holder. */
export function requireDataPlaneHolder(holder: DataPlaneHolder): Router {
  return Router().use((_req, res, next) => {
    if (holder.serving) return next();
    holder.holderUrl().then(
      (url) => unavailable(res, url ? `fusion.yaml is served by the replica holding the data plane: ${url}` : 'no replica serves the data plane yet', url, 'not_dataplane_holder'),
      (err: unknown) => next(err),
    );
  });
}

function unavailable(res: Response, message: string, holderUrl?: string, code = 'dataplane_unavailable'): void {
  if (holderUrl) res.setHeader(HOLDER_HEADER, holderUrl);
  res.setHeader('retry-after', '1');
  res.status(503).json({ error: { code, message, ...(holderUrl ? { details: { holder_url: holderUrl } } : {}) } });
}

function tlsOf(tls: ForwardOptions['tls']): Record<string, unknown> {
  if (!tls) return {};
  return { ...(tls.ca ? { ca: tls.ca } : tls.cert ? { ca: tls.cert } : {}), ...(tls.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}) };
}
