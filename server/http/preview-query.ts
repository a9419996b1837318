import type { Request } from 'express';
import { z } from 'zod';
import { PREVIEW_FILTERS, type PreviewPageOptions } from '../config/config-preview.js';
import { parseBody } from './parse-body.js';

const PreviewQuery = z.object({
  dry_run: z.enum(['true', 'false']).optional(),
  filter: z.enum(PREVIEW_FILTERS).default('all'),
  offset: z.coerce.number().int().nonnegative().max(10_000_000).default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  details: z.enum(['true', 'false']).default('true'),
});

/**
 * `?dry_run=true` on a save route: the page of the preview to answer with
 * (`filter`, `offset`, `limit` up to 1,000, `details=false` to leave out
 * patches and diffs); undefined for a real save.
 */
export function dryRunOf(req: Request): PreviewPageOptions | undefined {
  return req.query.dry_run === 'true' ? previewPageOf(req) : undefined;
}

/** The page of a preview a request asks for (`filter`, `offset`, `limit`, `details`). */
export function previewPageOf(req: Request): PreviewPageOptions {
  const query = parseBody(PreviewQuery.loose(), req.query, 'preview query');
  return { filter: query.filter, offset: query.offset, limit: query.limit, details: query.details === 'true' };
}
