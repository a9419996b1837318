import { expect } from 'chai';
import type { AgentBusMessage } from '../../server/bus/agent-bus.js';
import { LocalAgentBus } from '../../server/bus/local-bus.js';
import { PgAgentBus } from '../../server/bus/pg-bus.js';
import { PgSql } from '../../server/store/pg-sql.js';
import { eventually } from '../harness/eventually.js';
import { createTempDatabase, requirePostgres, type TempDatabase } from '../harness/postgres.js';

const config = (agent: string, revision = 1): AgentBusMessage => ({ type: 'config', agent_id: agent, revision, signature: `sig-${revision}`, cause: 'saved' });

describe('agent bus', () => {
  describe('in process', () => {
    it('starts every subscriber before publish returns, awaits each in turn, and keeps going past a failing one', async () => {
      const bus = new LocalAgentBus();
      const seen: string[] = [];
      let release!: () => void;
      bus.subscribe('config', (m, local) => {
        seen.push(`first ${m.agent_id} ${String(local)}`);
        return new Promise<void>((resolve) => (release = resolve));
      });
      bus.subscribe('config', () => {
        throw new Error('a failing subscriber');
      });
      bus.subscribe('config', (m) => void seen.push(`third ${m.agent_id}`));
      bus.subscribe('command', () => void seen.push('command'));
      const published = bus.publish(config('a'), 'doc');
      expect(seen).to.deep.equal(['first a doc']);
      let done = false;
      void published.then(() => (done = true));
      await Promise.resolve();
      expect(done).to.equal(false);
      release();
      await published;
      expect(seen).to.deep.equal(['first a doc', 'third a']);
    });

    it('stops delivering once unsubscribed or closed', async () => {
      const bus = new LocalAgentBus();
      const seen: number[] = [];
      const off = bus.subscribe('config', (m) => void seen.push(m.revision));
      await bus.publish(config('a', 1));
      off();
      await bus.publish(config('a', 2));
      bus.subscribe('config', (m) => void seen.push(m.revision * 10));
      await bus.close();
      await bus.publish(config('a', 3));
      expect(seen).to.deep.equal([1]);
    });
  });

  describe('on PostgreSQL (LISTEN/NOTIFY between replicas)', function () {
    this.timeout(30_000);
    let db: TempDatabase;
    const open: Array<{ close(): Promise<void> }> = [];

    before(async function () {
      await requirePostgres(this);
    });
    beforeEach(async () => {
      db = await createTempDatabase();
    });
    afterEach(async () => {
      for (const o of open.splice(0).reverse()) await o.close();
      await db?.drop();
    });

    async function replica(id: string): Promise<{ bus: PgAgentBus; sql: PgSql; seen: Array<[string, unknown]> }> {
      const sql = new PgSql(db.url);
      const bus = new PgAgentBus({ sql, url: db.url, replicaId: id, reconnectMs: 100 });
      await bus.start();
      open.push(sql, bus);
      const seen: Array<[string, unknown]> = [];
      bus.subscribe('config', (m, local) => void seen.push([`${m.agent_id}@${m.revision}`, local]));
      return { bus, sql, seen };
    }

    it('delivers a message to every replica once, with the local value only in the publishing one', async () => {
      const a = await replica('a');
      const b = await replica('b');
      const c = await replica('c');
      await a.bus.publish(config('n1', 7), 'the document');
      await eventually(() => {
        expect(b.seen).to.deep.equal([['n1@7', undefined]]);
        expect(c.seen).to.deep.equal([['n1@7', undefined]]);
        return true;
      });
      expect(a.seen).to.deep.equal([['n1@7', 'the document']]);
    });

    it('sends a message published inside a transaction only when it commits', async () => {
      const a = await replica('a');
      const b = await replica('b');
      await a.sql
        .transaction(async () => {
          await a.bus.publish(config('rolled-back', 1));
          throw new Error('undo');
        })
        .catch(() => undefined);
      await a.sql.transaction(async () => {
        await a.bus.publish(config('committed', 2));
      });
      await eventually(() => expect(b.seen.map(([m]) => m)).to.deep.equal(['committed@2']));
    });

    it('listens again after its connection is cut, and says so (messages may have been missed)', async () => {
      const a = await replica('a');
      const b = await replica('b');
      let resyncs = 0;
      b.bus.onResync(() => resyncs++);
      await a.sql.run("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'fusion-bus%' AND pid <> pg_backend_pid()");
      await eventually(() => expect(resyncs).to.be.at.least(1));
      await a.bus.publish(config('after', 3));
      await eventually(() => expect(b.seen.map(([m]) => m)).to.include('after@3'));
    });
  });
});
