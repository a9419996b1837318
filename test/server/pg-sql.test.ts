/** What PgSql does beyond the shared Sql contract: the PostgreSQL side of errors, locks, retries and schemas. */
import { expect } from 'chai';
import { createServer } from 'node:net';
import { rewriteParameters } from '../../server/store/pg-params.js';
import { PgSql } from '../../server/store/pg-sql.js';
import { StorageError } from '../../server/store/storage-errors.js';
import { createTempDatabase, requirePostgres, withTempPostgres } from '../harness/postgres.js';

/** A port nothing listens on: one the system just handed out and took back. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('PgSql parameter rewrite', () => {
  it('numbers ? in order and skips literals, identifiers, comments and casts', () => {
    const r = rewriteParameters(`SELECT '?', "a?b", ?::bigint, x -- what?\n FROM t /* @c */ WHERE y = ? AND z = E'it\\'s ?'`);
    expect(r.text).to.equal(`SELECT '?', "a?b", $1::bigint, x -- what?\n FROM t /* @c */ WHERE y = $2 AND z = E'it\\'s ?'`);
    expect(r.positional).to.equal(2);
  });

  it('gives a repeated @name one $n and leaves @> alone', () => {
    const r = rewriteParameters(`UPDATE t SET a = @a, b = @b WHERE a <> @a AND tags @> '{x}' AND note = 'me@host'`);
    expect(r.text).to.equal(`UPDATE t SET a = $1, b = $2 WHERE a <> $1 AND tags @> '{x}' AND note = 'me@host'`);
    expect(r.names).to.deep.equal(['a', 'b']);
  });

  it('refuses a statement that mixes both styles', () => {
    expect(() => rewriteParameters('SELECT ? , @a')).to.throw(/mixes/);
  });
});

describe('PgSql on PostgreSQL', function () {
  const database = withTempPostgres();
  let sql: PgSql | undefined;
  afterEach(async () => {
    await sql?.close();
    sql = undefined;
  });

  it('answers StorageError when the server cannot be reached', async () => {
    sql = new PgSql(`postgres://postgres@127.0.0.1:${await closedPort()}/fusion`, { connectionTimeoutMs: 2000 });
    const err = await sql.get('SELECT 1').catch((e: unknown) => e);
    expect(err).to.be.instanceOf(StorageError);
    expect((err as StorageError).code).to.equal('storage_error');
    expect((err as StorageError).status).to.equal(503);
    const inTransaction = await sql.transaction(() => sql!.run('SELECT 1')).catch((e: unknown) => e);
    expect(inTransaction).to.be.instanceOf(StorageError);
  });

  it('answers StorageError storage_read_only on a read-only transaction, and a statement timeout as storage_error', async () => {
    sql = new PgSql(database.url, { statementTimeoutMs: 200 });
    await sql.exec('CREATE TABLE t (n BIGINT)');
    const readOnly = await sql
      .transaction(async () => {
        await sql!.exec('SET TRANSACTION READ ONLY');
        await sql!.run('INSERT INTO t VALUES (1)');
      })
      .catch((e: unknown) => e);
    expect((readOnly as StorageError).code).to.equal('storage_read_only');
    const timeout = await sql.get('SELECT pg_sleep(2)').catch((e: unknown) => e);
    expect(timeout).to.be.instanceOf(StorageError);
    expect((timeout as Error).message).to.match(/57014/);
  });

  it('answers StorageError when the connection is lost mid-transaction, and serves again on a new one', async () => {
    sql = new PgSql(database.url, { maxConnections: 1 });
    const s = sql;
    const err = await s.transaction(() => s.get('SELECT pg_terminate_backend(pg_backend_pid())')).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(StorageError);
    expect((err as StorageError).code).to.equal('storage_error');
    expect(await s.get('SELECT 1 AS one')).to.deep.equal({ one: 1 });
    const outside = await s.get('SELECT pg_terminate_backend(pg_backend_pid())').catch((e: unknown) => e);
    expect(outside).to.be.instanceOf(StorageError);
    expect(await s.get('SELECT 2 AS two')).to.deep.equal({ two: 2 });
  });

  it('refuses lock() outside a transaction', async () => {
    sql = new PgSql(database.url);
    const err = await sql.lock('k').catch((e: unknown) => e);
    expect((err as Error).message).to.match(/inside a transaction/);
  });

  it('refuses a BIGINT beyond Number.MAX_SAFE_INTEGER instead of rounding it', async () => {
    sql = new PgSql(database.url);
    expect(await sql.get('SELECT 9007199254740991::bigint AS n')).to.deep.equal({ n: 9007199254740991 });
    const err = await sql.get('SELECT 9007199254740993::bigint AS n').catch((e: unknown) => e);
    expect((err as Error).message).to.match(/MAX_SAFE_INTEGER/);
  });

  it('runs a transaction again after a deadlock, so both writers succeed', async () => {
    sql = new PgSql(database.url);
    const s = sql;
    await s.exec("CREATE TABLE r (id TEXT PRIMARY KEY, n BIGINT NOT NULL); INSERT INTO r VALUES ('a', 0), ('b', 0)");
    // Each transaction updates one row, waits until the other has updated the other row, then updates it: a deadlock.
    const gate = (): { open(): void; opened: Promise<void> } => {
      let open!: () => void;
      return { opened: new Promise<void>((resolve) => (open = resolve)), open: () => open() };
    };
    const first = gate();
    const second = gate();
    let attempts = 0;
    const writer = (mine: string, theirs: string, done: ReturnType<typeof gate>, other: ReturnType<typeof gate>) =>
      s.transaction(async () => {
        attempts++;
        await s.run('UPDATE r SET n = n + 1 WHERE id = ?', [mine]);
        done.open();
        await other.opened;
        await s.run('UPDATE r SET n = n + 1 WHERE id = ?', [theirs]);
      });
    await Promise.all([writer('a', 'b', first, second), writer('b', 'a', second, first)]);
    expect(attempts).to.equal(3);
    expect(await s.all('SELECT id, n FROM r ORDER BY id')).to.deep.equal([
      { id: 'a', n: 2 },
      { id: 'b', n: 2 },
    ]);
  });

  it('works in the schema named by ?schema=', async () => {
    sql = new PgSql(`${database.url}?schema=fusion_a`);
    await sql.exec('CREATE SCHEMA fusion_a; CREATE TABLE t (n BIGINT)');
    expect(await sql.get("SELECT table_schema FROM information_schema.tables WHERE table_name = 't'")).to.deep.equal({ table_schema: 'fusion_a' });
    expect(() => new PgSql(`${database.url}?schema=Robert'); DROP`)).to.throw(/invalid PostgreSQL schema name/);
  });
});

describe('createTempDatabase', () => {
  before(async function () {
    await requirePostgres(this);
  });

  it('drops its database even when a connection was left open', async () => {
    const database = await createTempDatabase();
    const sql = new PgSql(database.url);
    await sql.get('SELECT 1');
    await database.drop();
    // The pooled connection was terminated; a new one finds no database.
    const err = await sql.get('SELECT 1').catch((e: unknown) => e);
    expect(err).to.be.instanceOf(Error);
    expect(await sql.get('SELECT 1').catch((e: unknown) => (e as { code?: string }).code)).to.equal('3D000');
    await sql.close();
  });
});
