import { expect } from 'chai';
import Database from 'better-sqlite3';
import path from 'node:path';
import { openDatabase, type Db } from '../../server/store/database.js';
import { GroupCommit } from '../../server/store/group-commit.js';
import { flushBeforeRequests } from '../../server/http/app.js';
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

  it('commits an open batch before an HTTP request is handled, so an admin write is durable before its answer', async () => {
    const commit = new GroupCommit(db);
    const app = express();
    app.use(flushBeforeRequests(() => commit.flush()));
    app.post('/write', (_req, res) => {
      db.transaction(() => db.prepare("INSERT INTO t VALUES ('admin', 1)").run())();
      // Another connection sees the admin's row before the answer leaves.
      res.json({ inTransaction: db.inTransaction, visibleElsewhere: count(other) });
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      commit.run(() => db.prepare("INSERT INTO t VALUES ('agent', 1)").run());
      expect(db.inTransaction).to.equal(true);
      const { port } = server.address() as { port: number };
      const answer = (await (await fetch(`http://127.0.0.1:${port}/write`, { method: 'POST' })).json()) as any;
      expect(answer).to.deep.equal({ inTransaction: false, visibleElsewhere: 2 });
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
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

  it('nests a db.transaction as a savepoint: a failing one is undone alone', async () => {
    const commit = new GroupCommit(db);
    const insert = db.prepare('INSERT INTO t (k, v) VALUES (?, ?)');
    commit.run(() => insert.run('kept', 1));
    const failing = db.transaction(() => {
      insert.run('undone', 2);
      insert.run('kept', 3); // primary key conflict
    });
    expect(() => failing()).to.throw(/UNIQUE/);
    db.transaction(() => insert.run('also-kept', 4))();
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
