/** openPostgres: migrating once under the start-up lock, and the databases it refuses. */
import { expect } from 'chai';
import { MIGRATIONS } from '../../server/store/migrations.js';
import { openPostgres, PG_SCHEMA_VERSION } from '../../server/store/pg-database.js';
import { PgSql } from '../../server/store/pg-sql.js';
import { withTempPostgres } from '../harness/postgres.js';

describe('openPostgres', function () {
  const database = withTempPostgres();

  it('migrates once when several Fusions start together', async () => {
    const opened = await Promise.all([openPostgres(database.url), openPostgres(database.url), openPostgres(database.url)]);
    try {
      expect(await opened[0]!.get('SELECT id, version FROM fusion_schema')).to.deep.equal({ id: 1, version: MIGRATIONS.length });
      expect(await opened[2]!.get('SELECT count(*) AS n FROM tokens')).to.deep.equal({ n: 0 });
    } finally {
      await Promise.all(opened.map((sql) => sql.close()));
    }
    // Opening again changes nothing.
    const again = await openPostgres(database.url);
    expect(await again.get('SELECT version FROM fusion_schema')).to.deep.equal({ version: PG_SCHEMA_VERSION });
    await again.close();
  });

  it('refuses a database with a newer schema, naming both versions', async () => {
    const sql = await openPostgres(database.url);
    await sql.run('UPDATE fusion_schema SET version = ?', [PG_SCHEMA_VERSION + 3]);
    await sql.close();
    const err = await openPostgres(database.url).catch((e: unknown) => e);
    expect((err as Error).message).to.match(new RegExp(`newer schema \\(version ${PG_SCHEMA_VERSION + 3}\\) than this Fusion understands \\(version ${PG_SCHEMA_VERSION}\\)`));
    expect((err as { kind?: string }).kind).to.equal('newer');
  });

  it("refuses a schema that holds another program's tables", async () => {
    const other = new PgSql(database.url);
    await other.exec('CREATE TABLE invoices (id BIGINT PRIMARY KEY)');
    await other.close();
    const err = await openPostgres(database.url).catch((e: unknown) => e);
    expect((err as Error).message).to.match(/holds tables but no Fusion schema version/);
  });

  it('creates its tables in the schema the URL names, beside another program\'s', async () => {
    const other = new PgSql(database.url);
    await other.exec('CREATE TABLE invoices (id BIGINT PRIMARY KEY)');
    await other.close();
    const sql = await openPostgres(`${database.url}?schema=fusion`);
    try {
      expect(await sql.get("SELECT table_schema FROM information_schema.tables WHERE table_name = 'tokens'")).to.deep.equal({ table_schema: 'fusion' });
      expect(await sql.get('SELECT version FROM fusion_schema')).to.deep.equal({ version: PG_SCHEMA_VERSION });
    } finally {
      await sql.close();
    }
  });
});
