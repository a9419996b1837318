import { expect } from 'chai';
import Database from 'better-sqlite3';
import path from 'node:path';
import { openDatabase, type Db } from '../../server/store/database.js';
import { GroupCommit } from '../../server/store/group-commit.js';
import { StorageError } from '../../server/store/storage-errors.js';
import { commitBeforeAnswer } from '../../server/http/commit-before-answer.js';
import express from 'express';
import { RawAgentClient, eventually, sampleConfig, startFusion, tempHome, type TestFusion } from '../harness/index.js';

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('group commit (one transaction per event-loop turn)', () => {
  let home: Awaited<ReturnType<typeof tempHome>>;
  let db: Db;
  let other: Database.Database;

  beforeEach(async () => {
    home = await tempHome('group-commit-');
    const file = path.join(home.path, 'fusion.db');
    db = openDatabase(file);
    db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)');
    other = new Database(file, { readonly: true });
  });

  afterEach(async () => {
    other.close();
    if (db.open) db.close();
    await home.remove();
  });

  const count = (conn: Database.Database): number => (conn.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }).n;

  it('never lets an answer leave before the write it acknowledges, even when agent writes opened a batch while the body was parsed', async () => {
    const commit = new GroupCommit(db);
    const app = express();
    const seen: Array<{ path: string; rows: number }> = [];
    // Observes the database the moment the answer is written (runs after the gate's commit).
    app.use((req, res, next) => {
      const end = res.end;
      res.end = function (this: typeof res, ...args: unknown[]) {
        seen.push({ path: req.path, rows: count(other) });
        return (end as (...a: unknown[]) => typeof res).apply(this, args);
      } as typeof res.end;
      next();
    });
    app.use(commitBeforeAnswer(() => commit.commit(), { error: () => undefined }));
    // An agent frame handled while the admin's body was still arriving: it opens a batch.
    app.use((req, _res, next) => {
      commit.run(() => db.prepare('INSERT INTO t VALUES (?, 1)').run(`agent${req.path}`));
      next();
    });
    app.post('/transaction', (_req, res) => {
      db.transaction(() => db.prepare("INSERT INTO t VALUES ('admin-tx', 1)").run())();
      // Its own transaction: committed before it returned, not nested in the agents' batch.
      res.status(201).json({ visibleElsewhere: count(other) });
    });
    app.post('/statement', (_req, res) => {
      db.prepare("INSERT INTO t VALUES ('admin-stmt', 1)").run(); // joins the open batch
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

  it('turns a 2xx into the storage error when the commit before the answer fails', async () => {
    const commit = new GroupCommit(db);
    const app = express();
    app.use(commitBeforeAnswer(() => commit.commit(), { error: () => undefined }));
    app.post('/write', (_req, res) => {
      commit.run(() => db.prepare("INSERT INTO t VALUES ('agent', 1)").run());
      db.prepare("INSERT INTO t VALUES ('admin', 1)").run();
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

  it('reports a batch SQLite rolled back by itself, even once a new batch began', () => {
    const commit = new GroupCommit(db);
    const insert = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
    commit.run(() => insert.run('lost', 1));
    db.exec('ROLLBACK'); // what SQLite does by itself on a full disk or an I/O error
    commit.run(() => insert.run('later', 2));
    expect(() => commit.commit()).to.throw(StorageError).with.property('code', 'storage_error');
    expect((other.prepare('SELECT k FROM t').all() as Array<{ k: string }>).map((r) => r.k)).to.deep.equal(['later']);
    commit.commit(); // nothing open, nothing lost: no error
  });

  it('commits the open batch before a transaction begun outside it, which then commits on its own', () => {
    const commit = new GroupCommit(db);
    const insert = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
    commit.run(() => insert.run('agent', 1));
    db.transaction(() => insert.run('admin', 2))();
    expect(db.inTransaction).to.equal(false);
    expect(count(other)).to.equal(2);
  });

  it('shows writes at once on its own connection and commits them together when the turn ends', async () => {
    const commit = new GroupCommit(db);
    const insert = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
    for (let i = 0; i < 100; i++) commit.run(() => insert.run(`k${i}`, i));
    expect(db.inTransaction).to.equal(true);
    expect(count(db)).to.equal(100);
    expect(count(other)).to.equal(0);
    await nextTurn();
    expect(db.inTransaction).to.equal(false);
    expect(count(other)).to.equal(100);
  });

  it('nests a db.transaction run inside the batch as a savepoint: a failing one is undone alone', async () => {
    const commit = new GroupCommit(db);
    const insert = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
    commit.run(() => insert.run('kept', 1));
    const failing = db.transaction(() => {
      insert.run('undone', 2);
      insert.run('kept', 3); // primary key conflict
    });
    commit.run(() => {
      expect(() => failing()).to.throw(/UNIQUE/);
      db.transaction(() => insert.run('also-kept', 4))();
    });
    expect(count(other)).to.equal(0);
    commit.run(() => insert.run('later', 5));
    await nextTurn();
    expect((other.prepare('SELECT k FROM t ORDER BY k').all() as Array<{ k: string }>).map((r) => r.k)).to.deep.equal(['also-kept', 'kept', 'later']);
  });

  it('flush commits at once, and a write inside someone else\'s transaction joins it', () => {
    const commit = new GroupCommit(db);
    const insert = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
    commit.run(() => insert.run('a', 1));
    commit.flush();
    expect(count(other)).to.equal(1);
    db.transaction(() => {
      commit.run(() => insert.run('b', 2));
    })();
    expect(db.inTransaction).to.equal(false);
    expect(count(other)).to.equal(2);
    commit.flush(); // nothing open: no-op
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
