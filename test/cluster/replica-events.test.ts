import { expect } from 'chai';
import pg from 'pg';
import pino from 'pino';
import { PgEventBus } from '../../server/events/pg-event-bus.js';
import { openPostgres } from '../../server/store/pg-database.js';
import type { PgSql } from '../../server/store/pg-sql.js';
import { eventually } from '../harness/eventually.js';
import { startFusion, type TestFusion } from '../harness/fusion.js';
import { createTempDatabase, requirePostgres, type TempDatabase } from '../harness/postgres.js';
import { RawAgentClient } from '../harness/raw-client.js';
import { sampleConfig } from '../harness/sample-config.js';
import { TestEventStream } from '../management/event-stream-client.js';

describe('one event stream for replicas on PostgreSQL', function () {
  this.timeout(60_000);
  let database: TempDatabase;
  const replicas: TestFusion[] = [];
  const streams: TestEventStream[] = [];
  const clients: RawAgentClient[] = [];

  before(async function () {
    await requirePostgres(this);
  });
  beforeEach(async () => {
    database = await createTempDatabase();
  });
  afterEach(async () => {
    for (const s of streams.splice(0)) s.close();
    for (const c of clients.splice(0)) c.terminate();
    for (const r of replicas.splice(0)) await r.stop();
    await database.drop();
  });

  const replica = async (replicaId: string): Promise<TestFusion> => {
    const fusion = await startFusion({ databaseUrl: database.url, replicaId });
    replicas.push(fusion);
    return fusion;
  };
  const open = async (fusion: TestFusion, headers: Record<string, string> = {}): Promise<TestEventStream> => {
    const stream = await TestEventStream.open(fusion.url, { headers: { authorization: `Bearer ${fusion.adminToken}`, ...headers } });
    streams.push(stream);
    return stream;
  };
  const saveConfig = async (fusion: TestFusion, agentId: string): Promise<void> => {
    const saved = await fusion.json('POST', `/api/v1/management/agents/${agentId}/config/structured`, sampleConfig());
    expect(saved.status).to.equal(201);
  };

  it('brings an event published on replica A to a client of replica B, once, under the same id', async () => {
    const a = await replica('a');
    const b = await replica('b');
    const onA = await open(a);
    const onB = await open(b);
    await saveConfig(a, 'node-1');
    const seenOnB = await onB.next('agent.config_saved');
    const seenOnA = await onA.next('agent.config_saved');
    expect(seenOnB.data.data).to.include({ agent_id: 'node-1', revision: 1 });
    expect(seenOnB.id).to.equal(seenOnA.id);
    expect(seenOnB.id).to.match(/^[0-9a-f]{8}-\d+$/);

    // An agent online on B is an event on A's stream too; a second save is one event, not one per replica.
    const client = await RawAgentClient.connectAs(b.url, 'node-2', b.enrollmentToken);
    clients.push(client);
    await client.hello();
    expect((await onA.next('agent.online')).data.data.agent_id).to.equal('node-2');
    await saveConfig(b, 'node-2');
    await onA.next((e) => e.event === 'agent.config_saved' && e.data.data.agent_id === 'node-2');
    await saveConfig(a, 'node-3');
    await onB.next((e) => e.event === 'agent.config_saved' && e.data.data.agent_id === 'node-3');
    const saves = onB.events.filter((e) => e.event === 'agent.config_saved').map((e) => e.data.data.agent_id);
    expect(saves).to.deep.equal(['node-1', 'node-2', 'node-3']);
    const ids = onB.events.filter((e) => e.id !== undefined).map((e) => Number(e.id!.split('-')[1]));
    expect(ids).to.deep.equal([...ids].sort((x, y) => x - y));
  });

  it('replays to a client that reconnects to replica C what it missed on A, and tells an old id to resync', async () => {
    const a = await replica('a');
    await replica('b');
    const c = await replica('c');
    const onA = await open(a);
    const watchC = await open(c);
    await saveConfig(a, 'node-1');
    const first = await onA.next('agent.config_saved');
    onA.close();
    await saveConfig(replicas[1]!, 'node-2');
    await saveConfig(a, 'node-3');
    // Once C has handed out node-3's event, all the client missed is C's to replay (none of it comes live).
    await watchC.next((e) => e.event === 'agent.config_saved' && e.data.data.agent_id === 'node-3');

    const resumed = await open(c, { 'last-event-id': first.id! });
    const replayed = resumed.events.filter((e) => e.event === 'agent.config_saved').map((e) => e.data.data.agent_id);
    expect(replayed).to.deep.equal(['node-2', 'node-3']);
    expect(resumed.events.at(-1)!.event).to.equal('ready');

    // An id of a single Fusion process (another id space) cannot be replayed here: resync.
    const stale = await open(c, { 'last-event-id': 'deadbeef-1' });
    expect(stale.events.map((e) => e.event)).to.deep.equal(['resync', 'ready']);
  });

  describe('the stream itself', () => {
    let sql: PgSql;
    const buses: PgEventBus[] = [];
    const log = pino({ level: 'silent' });
    beforeEach(async () => {
      sql = await openPostgres(database.url);
    });
    afterEach(async () => {
      for (const bus of buses.splice(0)) await bus.close();
      await sql.close();
    });
    const bus = async (replicaId: string, options: { keepEvents?: number; gapWindowMs?: number; reconnectMs?: number } = {}): Promise<PgEventBus> => {
      const b = await PgEventBus.start({ sql, url: database.url, replicaId, log, pruneIntervalMs: 3_600_000, ...options });
      buses.push(b);
      return b;
    };

    it('keeps only the newest events: a replay reaching back past them answers resync', async () => {
      const a = await bus('a', { keepEvents: 5 });
      const seen: number[] = [];
      a.subscribe((e) => seen.push(e.id));
      for (let i = 0; i < 12; i++) a.publish('agent.offline', { agent_id: `n-${i}`, session_id: 's', code: 1000 });
      await eventually(() => expect(seen).to.have.length(12));
      await a.prune();
      const kept = await sql.get<{ n: number }>('SELECT count(*)::int AS n FROM events');
      expect(kept!.n).to.equal(5);
      expect(await a.replay(seen[0]!, a.lastEventId)).to.equal(undefined);
      const recent = await a.replay(seen[6]!, a.lastEventId);
      expect(recent!.map((e) => e.id)).to.deep.equal(seen.slice(7));
    });

    it('catches up on what was published while its listening connection was down', async () => {
      const a = await bus('a', { reconnectMs: 100 });
      const b = await bus('b', { reconnectMs: 100 });
      const seen: string[] = [];
      b.subscribe((e) => seen.push((e.data as { agent_id: string }).agent_id));
      a.publish('agent.offline', { agent_id: 'before', session_id: 's', code: 1000 });
      await eventually(() => expect(seen).to.deep.equal(['before']));
      const killed = await sql.get<{ n: number }>(
        "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = 'fusion-events' AND datname = current_database()",
      );
      expect(killed!.n).to.equal(2);
      // Published while neither listens: no notification reaches b; it reads these when it listens again.
      a.publish('agent.offline', { agent_id: 'during-1', session_id: 's', code: 1000 });
      a.publish('agent.offline', { agent_id: 'during-2', session_id: 's', code: 1000 });
      await eventually(() => expect(seen).to.deep.equal(['before', 'during-1', 'during-2']));
      await eventually(async () => expect((await sql.get<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'fusion-events' AND datname = current_database()"))!.n).to.equal(2));
      a.publish('agent.offline', { agent_id: 'after', session_id: 's', code: 1000 });
      await eventually(() => expect(seen).to.deep.equal(['before', 'during-1', 'during-2', 'after']));
    });

    it('waits for an id committed late, and goes on without one that never comes', async () => {
      const a = await bus('a', { gapWindowMs: 1500 });
      const seen: string[] = [];
      a.subscribe((e) => seen.push((e.data as { agent_id: string }).agent_id));
      // Another writer takes an id and commits it later: the reader must not pass it by.
      const late = new pg.Client({ connectionString: database.url });
      await late.connect();
      try {
        await late.query('BEGIN');
        await late.query(`INSERT INTO events (type, at, origin, bytes, data) VALUES ('agent.offline', 0, 'x', 10, '{"agent_id":"late"}')`);
        a.publish('agent.offline', { agent_id: 'after', session_id: 's', code: 1000 });
        await eventually(async () => expect((await sql.get<{ n: number }>('SELECT count(*)::int AS n FROM events'))!.n).to.equal(1));
        await late.query('COMMIT');
        await eventually(() => expect(seen).to.deep.equal(['late', 'after']));
        // An id taken and rolled back never commits: after the window the reader goes on.
        await late.query('BEGIN');
        await late.query(`INSERT INTO events (type, at, origin, bytes, data) VALUES ('agent.offline', 0, 'x', 10, '{"agent_id":"lost"}')`);
        await late.query('ROLLBACK');
        a.publish('agent.offline', { agent_id: 'next', session_id: 's', code: 1000 });
        await eventually(() => expect(seen).to.deep.equal(['late', 'after', 'next']), { timeoutMs: 6000 });
      } finally {
        await late.end();
      }
    });
  });
});
