/**
 * `node --import tsx scripts/bench/backup.ts [--mb 64]`: how long an online
 * backup (backupDatabase, one read transaction) of a Fusion database of the
 * given size takes, and the longest event-loop stall it causes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openDatabase } from '../../server/store/database.js';
import { backupDatabase } from '../../server/store/backup.js';

const { values } = parseArgs({ options: { mb: { type: 'string' } } });
const megabytes = Number(values.mb ?? 64);
const dir = mkdtempSync(join(tmpdir(), 'fusion-bench-backup-'));
try {
  const file = join(dir, 'fusion.db');
  const db = openDatabase(file);
  const insert = db.prepare('INSERT INTO config_documents (signature, document) VALUES (?, ?)');
  const doc = JSON.stringify({ pad: 'x'.repeat(16 * 1024) });
  db.transaction(() => {
    for (let i = 0; i < megabytes * 64; i++) insert.run(`sha256:${i}`, doc);
  })();
  db.pragma('wal_checkpoint(TRUNCATE)');
  // The longest gap between ticks of a 1 ms timer while the backup runs.
  let last = Date.now();
  let stall = 0;
  const ticker = setInterval(() => {
    stall = Math.max(stall, Date.now() - last);
    last = Date.now();
  }, 1);
  const result = await backupDatabase(file, join(dir, 'copy.db'));
  clearInterval(ticker);
  db.close();
  console.log(`backup of a ${(result.bytes / 1048576).toFixed(0)} MiB database: ${result.tookMs} ms (${(result.bytes / 1048576 / (result.tookMs / 1000)).toFixed(0)} MiB/s), ` +
    `longest event-loop stall ${stall} ms (${cpus().length} cores, Node ${process.versions.node}, ${new Date().toISOString().slice(0, 10)})`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
