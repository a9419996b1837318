import { copyToPostgres, formatCopyReport } from './store/copy-to-postgres.js';

/**
 * `fusion migrate-to-postgres --home <dir> --database postgres://…`: copies
 * a stopped Fusion's SQLite database into PostgreSQL, verifies it and prints
 * a table of row counts with the verdict. Exit code 0 only when verified.
 */
export async function migrateToPostgresCommand(home: string, databaseUrl: string | undefined): Promise<void> {
  if (!databaseUrl) throw new Error('migrate-to-postgres needs --database postgres://user@host:5432/db (or FUSION_DATABASE_URL)');
  if (!/^postgres(ql)?:\/\//.test(databaseUrl)) throw new Error(`--database must be a postgres:// URL: ${databaseUrl.replace(/:[^:@/]*@/, ':***@')}`);
  process.stdout.write(`copying ${home}/fusion.db to PostgreSQL…\n`);
  const report = await copyToPostgres(home, databaseUrl);
  process.stdout.write(`${formatCopyReport(report)}\n`);
  if (!report.verified) process.exitCode = 1;
}
