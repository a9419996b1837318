/**
 * `GET /api/v1/control/packages/:version`: agents download packages here,
 * authenticated by their own credential, bound to the `X-Fustor-Agent-Id`
 * they send (an enrollment token is refused: it only enrols). The
 * body is the .tgz; `X-Package-Sha256` carries the recorded hash, though the
 * agent verifies against the hash its upgrade command carries.
 */
import { createReadStream, fstatSync } from 'node:fs';
import { Router } from 'express';
import { AGENT_ID_HEADER, AgentId } from '../../shared/protocol/index.js';
import { authenticateAgent } from '../http/agent-request-auth.js';
import type { TokenStore } from '../auth/token-store.js';
import { HttpError, notFound } from '../http/errors.js';
import { versionParam } from './package-routes.js';
import type { PackageStore } from './package-store.js';

export function packageDownloadRoute(deps: { tokens: TokenStore; packages: PackageStore }): Router {
  const router = Router();
  router.get('/:version', async (req, res, next) => {
    const rawId = req.headers[AGENT_ID_HEADER];
    const agentId = AgentId.safeParse(Array.isArray(rawId) ? rawId[0] : rawId);
    if (!agentId.success) throw new HttpError(400, 'bad_request', `missing or invalid ${AGENT_ID_HEADER} header`);
    await authenticateAgent(deps.tokens, req, res, agentId.data);
    const version = versionParam(req.params.version);
    const record = await deps.packages.get(version);
    if (!record) throw notFound(`package ${version}`);
    const stream = createReadStream(deps.packages.file(version));
    stream.once('error', (err) => {
      // Deleted between the lookup and the open: the same answer as never uploaded.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !res.headersSent) next(notFound(`package ${version}`));
      else if (!res.headersSent) next(err);
      else res.destroy(err);
    });
    stream.once('open', (fd) => {
      res.status(200);
      res.setHeader('Content-Type', 'application/gzip');
      // The size of what is sent, even if the file no longer matches its record: the agent's hash check decides.
      res.setHeader('Content-Length', String(fstatSync(fd).size));
      res.setHeader('X-Package-Sha256', record.sha256);
      res.setHeader('Cache-Control', 'no-store');
      stream.pipe(res);
    });
  });
  return router;
}
