import { createReadStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Router } from 'express';
import type { Logger } from '../../shared/logger.js';
import { requireAdmin } from '../auth/admin-auth.js';
import type { TokenStore } from '../auth/token-store.js';
import { backupDatabase } from '../store/backup.js';
import { HttpError } from './errors.js';

/**
 * `POST /api/v1/management/backup` (admin role): an online backup of
 * fusion.db, answered as the file itself (`application/vnd.sqlite3`). The
 * copy is one consistent snapshot taken while agents keep writing (see
 * backupDatabase); it is staged under `<home>/backups/` and removed once sent.
 */
export function backupRoutes(deps: { tokens: TokenStore; home: string; log: Logger; database: 'sqlite' | 'postgres' }): Router {
  const router = Router();
  router.post('/backup', requireAdmin(deps.tokens, 'admin'), async (_req, res) => {
    if (deps.database === 'postgres') {
      throw new HttpError(409, 'backup_not_here', 'Fusion keeps its state in PostgreSQL: back it up with the database\'s own tools (pg_dump, or continuous archiving); see docs/operations.md, "PostgreSQL"');
    }
    const dir = join(deps.home, 'backups');
    await mkdir(dir, { recursive: true });
    const name = `fusion-${new Date().toISOString().replace(/[:.]/g, '-')}.db`;
    const result = await backupDatabase(join(deps.home, 'fusion.db'), join(dir, name));
    deps.log.info({ file: result.file, bytes: result.bytes, tookMs: result.tookMs }, 'database backup taken');
    res.status(200).set({
      'content-type': 'application/vnd.sqlite3',
      'content-length': String(result.bytes),
      'content-disposition': `attachment; filename="${name}"`,
      'x-backup-pages': String(result.pages),
    });
    const stream = createReadStream(result.file);
    const cleanup = (): void => void rm(result.file, { force: true });
    stream.on('error', (err) => {
      deps.log.error({ err }, 'sending the backup failed');
      res.destroy(err);
      cleanup();
    });
    res.on('close', cleanup);
    stream.pipe(res);
  });
  return router;
}
