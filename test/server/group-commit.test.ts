import { expect } from 'chai';
import Database from 'better-sqlite3';
import path from 'node:path';
import { openDatabase, type Db } from '../../server/store/database.js';
import { SqliteSql } from '../../server/store/sqlite-sql.js';
import { StorageError } from '../../server/store/storage-errors.js';
import { commitBeforeAnswer } from '../../server/http/commit-before-answer.js';
import express from 'express';
import { RawAgentClient, eventually, sampleConfig, startFusion, tempHome, type TestFusion } from '../harness/index.js';

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('SqliteSql: group commit, flush and transactions', () => {
  let home: Awaited<ReturnType<typeof tempHome>>;
  let db: Db;
  let sql: SqliteSql;
  let other: Database.Database;

  beforeEach(async () => {
    home = await tempHome('group-commit-');
    const file = path.join(home.path, 'fusion.db');
    db = openDatabase(file);
    db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)');
    sql = new SqliteSql(db);
    other = new Database(file, { readonly: true });
  });

  afterEach(async () => {
    other.close();
    await sql.close();
    await home.remove();
  });

  const count = (conn: Database.Database): number => (conn.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }).n;
  const keys = (): string[] => (other.prepare('SELECT k FROM t ORDER BY k').all() as Array<{ k: string }>).map((r) => r.k);
  const insert = (k: string, v: number) => sql.run('INSERT INTO t (k, v) VALUES (?, ?)', [k, v]);

  it('reads with positional and named parameters, and counts changes', async () => {
    expect(await insert('a', 1)).to.deep.equal({ changes: 1 });
    await sql.run('INSERT INTO t (k, v) VALUES (@k, @v)', { k: 'b', v: 2 });
    expect(await sql.get<{ v: number }>('SELECT v FROM t WHERE k = ?', ['b'])).to.deep.equal({ v: 2 });
    expect(await sql.get('SELECT v FROM t WHERE k = ?', ['none'])).to.equal(undefined);
    expect(await sql.all<{ k: string }>('SELECT k FROM t ORDER BY k')).to.deep.equal([{ k: 'a' }, { k: 'b' }]);
    expect(await sql.run('UPDATE t SET v = v + 1')).to.deep.equal({ changes: 2 });
    expect(await sql.get<{ k: string }>("INSERT INTO t (k, v) VALUES ('c', 3) RETURNING k")).to.deep.equal({ k: 'c' });
  });

  it('never lets an answer leave before the write it acknowledges, even when agent writes opened a batch while the body was parsed', async () => {
    const app = express();
    const seen: Array<{ path: string; rows: number }> = [];
    // Observes the database the moment the answer is written (runs after the gate's flush).
    app.use((req, res, next) => {
      const end = res.end;
      res.end = function (this: typeof res, ...args: unknown[]) {
        seen.push({ path: req.path, rows: count(other) });
        return (end as (...a: unknown[]) => typeof res).apply(this, args);
      } as typeof res.end;
      next();
    });
    app.use(commitBeforeAnswer(() => sql.flush(), { error: () => undefined }));
    // An agent frame handled while the admin's body was still arriving: it opens a batch.
    app.use(async (req, _res, next) => {
      await sql.batch(() => sql.run('INSERT INTO t VALUES (?, 1)', [`agent${req.path}`]));
      next();
    });
    app.post('/transaction', async (_req, res) => {
      await sql.transaction(() => sql.run("INSERT INTO t VALUES ('admin-tx', 1)"));
      // Its own transaction: committed before it resolved, not nested in the agents' batch.
      res.status(201).json({ visibleElsewhere: count(other) });
    });
    app.post('/statement', async (_req, res) => {
      await sql.run("INSERT INTO t VALUES ('admin-stmt', 1)"); // joins the open batch
      res.status(201).json({ inTransaction: db.inTransaction });
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const { port } = server.address() as { port: number };
      const tx = await fetch(`http://127.0.0.1:${port}/transaction`, { method: 'POST' });
      expect(tx.status).to.equal(201);
      expect(await tx.json()).to.deep.equal({ visibleElsewhere: 2 });
      const stmt = await fetch(`http://127.0.0.1:${port}/statement`, { method: 'POST' });
      expect(await stmt.json()).to.deep.equal({ inTransaction: true });
      expect(seen).to.deep.equal([
        { path: '/transaction', rows: 2 },
        { path: '/statement', rows: 4 },
      ]);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('turns a 2xx into the storage error when the flush before the answer fails', async () => {
    const app = express();
    app.use(commitBeforeAnswer(() => sql.flush(), { error: () => undefined }));
    app.post('/write', async (_req, res) => {
      await sql.batch(() => sql.run("INSERT INTO t VALUES ('agent', 1)"));
      await sql.run("INSERT INTO t VALUES ('admin', 1)");
      // SQLite rolls a transaction back by itself on a storage error; this does the same.
      db.exec('ROLLBACK');
      res.status(201).json({ ok: true });
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const { port } = server.address() as { port: number };
      const res = await fetch(`http://127.0.0.1:${port}/write`, { method: 'POST' });
      expect(res.status).to.equal(503);
      expect(((await res.json()) as { error: { code: string } }).error.code).to.equal('storage_error');
      expect(count(other)).to.equal(0);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('reports a batch SQLite rolled back by itself, even once a new batch began', async () => {
    await sql.batch(() => insert('lost', 1));
    db.exec('ROLLBACK'); // what SQLite does by itself on a full disk or an I/O error
    await sql.batch(() => insert('later', 2));
    const failure = await sql.flush().then(() => undefined, (err: unknown) => err);
    expect(failure).to.be.instanceOf(StorageError).with.property('code', 'storage_error');
    expect(keys()).to.deep.equal(['later']);
    await sql.flush(); // nothing open, nothing lost: no error
  });

  it('commits the open batch before a transaction begun outside it, which then commits on its own', async () => {
    await sql.batch(() => insert('agent', 1));
    await sql.transaction(() => insert('admin', 2));
    expect(db.inTransaction).to.equal(false);
    expect(count(other)).to.equal(2);
  });

  it('shows writes at once on its own connection and commits them together when the turn ends', async () => {
    sql = new SqliteSql(db, { turnBudgetMs: Infinity }); // all hundred within one turn, however slow the machine
    for (let i = 0; i < 100; i++) await sql.batch(() => insert(`k${i}`, i));
    expect(db.inTransaction).to.equal(true);
    expect(count(db)).to.equal(100);
    expect(count(other)).to.equal(0);
    await nextTurn();
    expect(db.inTransaction).to.equal(false);
    expect(count(other)).to.equal(100);
  });

  it('gives the event loop a turn once statements used the turn budget, keeping their order and the transaction whole', async () => {
    sql = new SqliteSql(db, { turnBudgetMs: 0 }); // every statement after a turn's first waits for the next turn
    const order: string[] = [];
    const writes = ['a', 'b', 'c'].map((k, i) => insert(k, i).then(() => order.push(k)));
    expect(count(db)).to.equal(1); // the first ran at once; the others wait
    await Promise.all(writes);
    expect(order).to.deep.equal(['a', 'b', 'c']);

    let turns = 0;
    let ticking = true;
    const tick = (): void => {
      turns++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    await sql.transaction(async () => {
      for (let i = 0; i < 20; i++) await insert(`t${i}`, i);
      expect(count(other)).to.equal(3); // nothing of it is visible outside before the commit
    });
    ticking = false;
    expect(turns).to.be.greaterThan(10); // the loop turned while the transaction ran
    expect(count(other)).to.equal(23);
  });

  it('runs a transaction inside the batch as a savepoint: a failing one is undone alone', async () => {
    await sql.batch(async () => {
      await insert('kept', 1);
      const failing = sql.transaction(async () => {
        await insert('undone', 2);
        await insert('kept', 3); // primary key conflict
      });
      expect(await failing.then(() => undefined, (err: Error) => err.message)).to.match(/UNIQUE/);
      await sql.transaction(() => insert('also-kept', 4));
    });
    expect(count(other)).to.equal(0);
    await sql.batch(() => insert('later', 5));
    await nextTurn();
    expect(keys()).to.deep.equal(['also-kept', 'kept', 'later']);
  });

  it('flush commits at once, and a batch inside a transaction joins the transaction', async () => {
    await sql.batch(() => insert('a', 1));
    await sql.flush();
    expect(count(other)).to.equal(1);
    await sql.transaction(() => sql.batch(() => insert('b', 2)));
    expect(db.inTransaction).to.equal(false);
    expect(count(other)).to.equal(2);
    await sql.flush(); // nothing open: no-op
  });

  it('rolls a transaction back when its body throws, and a nested one joins it', async () => {
    const failure = await sql
      .transaction(async () => {
        await insert('outer', 1);
        await sql.transaction(() => insert('inner', 2));
        throw new Error('changed my mind');
      })
      .then(() => undefined, (err: Error) => err.message);
    expect(failure).to.equal('changed my mind');
    expect(db.inTransaction).to.equal(false);
    expect(count(db)).to.equal(0);
  });

  it('makes a statement from another context wait for an open transaction, so it is not rolled back with it', async () => {
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const tx = sql
      .transaction(async () => {
        await insert('tx', 1);
        order.push('tx wrote');
        await gate; // (a test only: real bodies await nothing but the database)
        throw new Error('rolled back');
      })
      .catch(() => order.push('tx rolled back'));
    const outside = insert('outside', 2).then(() => order.push('outside wrote'));
    const read = sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM t').then((row) => order.push(`outside read ${row!.n}`));
    await nextTurn();
    expect(order).to.deep.equal(['tx wrote']);
    release();
    await Promise.all([tx, outside, read]);
    expect(order).to.deep.equal(['tx wrote', 'tx rolled back', 'outside wrote', 'outside read 1']);
    expect(keys()).to.deep.equal(['outside']);
  });

  it('runs transactions of different contexts one after the other', async () => {
    const order: string[] = [];
    const step = (name: string) => async () => {
      order.push(`${name} begin`);
      await insert(name, 1);
      await sql.get('SELECT 1');
      order.push(`${name} end`);
    };
    await Promise.all([sql.transaction(step('one')), sql.transaction(step('two')), sql.batch(() => insert('agent', 3))]);
    expect(order).to.deep.equal(['one begin', 'one end', 'two begin', 'two end']);
    await sql.flush();
    expect(keys()).to.deep.equal(['agent', 'one', 'two']);
  });

  it('isolates a synchronous db.transaction of a store still on the handle: the batch commits first, then it commits on its own', async () => {
    await sql.batch(() => insert('agent', 1));
    db.transaction(() => db.prepare("INSERT INTO t VALUES ('legacy', 2)").run())();
    expect(db.inTransaction).to.equal(false);
    expect(keys()).to.deep.equal(['agent', 'legacy']);
  });

  it('flush waits for an open transaction of another context', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const tx = sql.transaction(async () => {
      await insert('tx', 1);
      await gate;
    });
    let flushed = false;
    const flush = sql.flush().then(() => (flushed = true));
    await nextTurn();
    expect(flushed).to.equal(false);
    release();
    await Promise.all([tx, flush]);
    expect(count(other)).to.equal(1);
  });
});

describe('group commit in Fusion', () => {
  let fusion: TestFusion;
  const clients: RawAgentClient[] = [];

  beforeEach(async () => {
    fusion = await startFusion();
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await fusion.stop();
  });

  it('records the acks of many agents arriving together, and they survive a restart', async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `gc-${i}`);
    const signatures = new Map<string, string>();
    for (const id of ids) {
      const res = await fusion.api(`/api/v1/management/agents/${id}/config/structured`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(sampleConfig({ root: `/srv/${id}` })),
      });
      signatures.set(id, ((await res.json()) as { signature: string }).signature);
    }
    for (const id of ids) clients.push(await RawAgentClient.connectAs(fusion.url, id, fusion.enrollmentToken));
    const configs = await Promise.all(clients.map(async (c) => (await c.hello(), c.next('config'))));
    clients.forEach((c, i) => {
      const { signature, revision } = configs[i]!;
      c.send({ type: 'config_status', signature, revision, status: 'applying' });
      c.send({ type: 'config_status', signature, revision, status: 'applied' });
    });
    const applied = async (): Promise<number> => {
      const { agents } = (await (await fusion.api('/api/v1/management/agents')).json()) as { agents: Array<{ agent_id: string; config: { applied_signature: string | null } }> };
      return agents.filter((a) => a.config.applied_signature === signatures.get(a.agent_id)).length;
    };
    await eventually(async () => (await applied()) === ids.length);
    await fusion.restart();
    expect(await applied()).to.equal(ids.length);
  });
});
