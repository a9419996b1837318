/**
 * `fusion migrate-to-postgres` on a real home: a Fusion on SQLite gets
 * agents, configs, a group, tokens, a command and a secret through its API,
 * stops, and its database is copied into PostgreSQL and verified, as a
 * function and through the built bin.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { copyToPostgres, CopyRefused, formatCopyReport } from '../../server/store/copy-to-postgres.js';
import { PgSql } from '../../server/store/pg-sql.js';
import { createTempDatabase, requirePostgres, type TempDatabase } from '../harness/postgres.js';
import { skipOnPostgres } from '../harness/test-database.js';
import { eventually, sampleConfig, sampleYaml, startFusion, tempHome } from '../harness/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('fusion migrate-to-postgres', function () {
  before(function () {
    skipOnPostgres(this);
  });

  this.timeout(120_000);
  let home: Awaited<ReturnType<typeof tempHome>>;
  const databases: TempDatabase[] = [];
  const database = async (): Promise<TempDatabase> => {
    const created = await createTempDatabase();
    databases.push(created);
    return created;
  };

  before(async function () {
    await requirePostgres(this);
    home = await tempHome('fusion-migrate-');
    const fusion = await startFusion({ home: home.path });
    try {
      for (const id of ['node-1', 'node-2', 'node-3']) await fusion.rawAgent(id);
      for (const [id, pipes] of [['node-1', 1], ['node-1', 2], ['node-2', 1]] as const) {
        expect((await fusion.json('POST', `/api/v1/management/agents/${id}/config/structured`, sampleConfig({ pipes }))).status).to.equal(201);
      }
      expect((await fusion.json('POST', '/api/v1/management/groups', { name: 'g1', template: sampleYaml() })).status).to.equal(201);
      expect((await fusion.json('PUT', '/api/v1/management/groups/g1/members/node-3', {})).status).to.equal(200);
      expect((await fusion.json('POST', '/api/v1/management/admin-tokens', { name: 'viewer', role: 'viewer' })).status).to.equal(201);
      expect((await fusion.json('POST', '/api/v1/management/enrollment-tokens', { name: 'rack-7', max_uses: 3 })).status).to.equal(201);
      expect((await fusion.json('POST', '/api/v1/management/secrets', { name: 'k', value: 'secret value' })).status).to.equal(201);
      expect((await fusion.json('POST', '/api/v1/management/agents/node-1/command', { type: 'report_config' })).status).to.equal(202);
      await eventually(async () => (await fusion.api('/api/v1/management/agents/node-3/config')).status === 200);
    } finally {
      await fusion.stop();
    }
  });
  after(async () => {
    for (const created of databases) await created.drop();
    await home?.remove();
  });

  it('copies every table and verifies counts, digests and config signatures', async () => {
    const target = await database();
    const report = await copyToPostgres(home.path, target.url);
    const text = formatCopyReport(report);
    expect(report.verified, text).to.equal(true);
    expect(report.outcome).to.equal('copied');
    const rows = Object.fromEntries(report.tables.map((t) => [t.table, t.postgres.rows]));
    expect(rows.agents).to.equal(3);
    expect(rows.agent_config_revisions).to.be.at.least(3);
    expect(rows.group_template_revisions).to.equal(1);
    expect(rows.commands).to.be.at.least(1);
    expect(rows.secrets).to.equal(1);
    expect(rows.tokens).to.be.at.least(5);
    for (const t of report.tables) expect(t.postgres, t.table).to.deep.equal(t.sqlite);
    expect(report.signatures.checked).to.be.at.least(rows.config_documents! + 1);
    expect(text).to.match(/^agents\s+3\s+3\s+equal$/m).and.match(/verified: /);

    // The identity sequence continues past the copied keys.
    const sql = new PgSql(target.url);
    try {
      const max = await sql.get<{ seq: number }>('SELECT max(seq) AS seq FROM commands');
      const next = await sql.get<{ seq: number }>(
        "INSERT INTO commands (id, agent_id, type, args, status, author, created_at) VALUES ('new', 'node-1', 'report_config', '{}', 'queued', 't', 1) RETURNING seq",
      );
      expect(next!.seq).to.be.greaterThan(max!.seq);
      await sql.run("DELETE FROM commands WHERE id = 'new'");
    } finally {
      await sql.close();
    }

    // Again into the same database: recognised as the same copy, nothing written.
    const again = await copyToPostgres(home.path, target.url);
    expect(again).to.include({ outcome: 'already_copied', verified: true });
    // Nothing of the copy is left in the home: no -wal or -shm a later start would find.
    expect(readdirSync(home.path).filter((f) => f.startsWith('fusion.db'))).to.deep.equal(['fusion.db']);
  });

  it('refuses a target that holds other rows, and a home Fusion is running on', async () => {
    const target = await database();
    await copyToPostgres(home.path, target.url);
    const sql = new PgSql(target.url);
    await sql.run("UPDATE agents SET hostname = 'changed' WHERE agent_id = 'node-2'");
    await sql.close();
    const err = await copyToPostgres(home.path, target.url).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(CopyRefused);
    expect((err as Error).message).to.match(/already holds rows .* and is not an exact copy .*\(differs in: agents\)/);

    // A config document changed behind its signature: the digest and the signature check both see it.
    const tampered = await database();
    await copyToPostgres(home.path, tampered.url);
    const other = new PgSql(tampered.url);
    await other.run("UPDATE config_documents SET document = '{\"sources\":{}}' WHERE signature = (SELECT min(signature) FROM config_documents)");
    await other.close();
    const refused = await copyToPostgres(home.path, tampered.url).catch((e: unknown) => e);
    expect((refused as Error).message).to.match(/differs in: config_documents; 1 stored config signature\(s\) do not match/);

    const fusion = await startFusion({ home: home.path });
    try {
      const running = await copyToPostgres(home.path, (await database()).url).catch((e: unknown) => e);
      expect((running as Error).message).to.match(/Fusion is running on this home/);
    } finally {
      await fusion.stop();
    }
  });

  it('runs as the fusion bin, printing the table and exiting 0 once verified', async function () {
    if (!existsSync(`${ROOT}/dist/bin/fusion.cjs`)) {
      if (process.env.CI) throw new Error('dist/bin/fusion.cjs is missing: npm run build');
      console.warn('    skipped: dist/bin/fusion.cjs is missing (npm run build)');
      this.skip();
    }
    const target = await database();
    const run = promisify(execFile);
    const ok = await run(process.execPath, ['bin/fusion.js', 'migrate-to-postgres', '--home', home.path, '--database', target.url], { cwd: ROOT });
    expect(ok.stdout).to.match(/^config_documents\s+\d+\s+\d+\s+equal$/m).and.match(/verified: the PostgreSQL database holds exactly what fusion.db holds/);
    const failed = await run(process.execPath, ['bin/fusion.js', 'migrate-to-postgres', '--home', home.path], { cwd: ROOT }).catch((e: { code: number; stderr: string }) => e);
    expect(failed).to.include({ code: 1 });
    expect((failed as { stderr: string }).stderr).to.match(/needs --database/);
  });
});
