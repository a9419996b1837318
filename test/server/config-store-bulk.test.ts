import { expect } from 'chai';
import { ConfigStore } from '../../server/store/config-store.js';
import { openPostgres } from '../../server/store/pg-database.js';
import { createTempDatabase, requirePostgres } from '../harness/postgres.js';
import { describeOnBackends } from '../harness/test-sql.js';

const doc = (n: number): Record<string, unknown> => ({ sources: {}, senders: {}, pipes: {}, n });
const rendered = (agentId: string, n: number): Parameters<ConfigStore['saveMany']>[0][number] => ({
  agentId,
  signature: `sha256:${n}`,
  document: doc(n),
  format: 'json',
  sourceText: '',
  author: 'group:g@2',
});

describeOnBackends('config store: revisions and bulk saves', (db) => {
  it('numbers each agent’s revisions on, stores a shared document once, and all or nothing', async () => {
    const store = new ConfigStore(db.sql);
    const admin = await store.save({ agentId: 'a', signature: 'sha256:0', document: doc(0), format: 'yaml', sourceText: 'n: 0 # by hand\n', author: 'admin' });
    expect('revision' in admin && admin.revision.revision).to.equal(1);
    const saved = await store.saveMany([rendered('a', 1), rendered('b', 1), rendered('c', 2)]);
    expect(saved.map((r) => [r.agent_id, r.revision, r.signature])).to.deep.equal([
      ['a', 2, 'sha256:1'],
      ['b', 1, 'sha256:1'],
      ['c', 1, 'sha256:2'],
    ]);
    expect(await db.sql.get('SELECT COUNT(*) AS n FROM config_documents')).to.deep.equal({ n: 3 });
    // Every saved agent has a row (a config may be stored before the agent ever connects).
    expect(await db.sql.get('SELECT COUNT(*) AS n FROM agents')).to.deep.equal({ n: 3 });
    let failure: unknown;
    await store
      .saveMany([rendered('a', 3)], async () => {
        throw new Error('the caller’s own write failed');
      })
      .catch((err: unknown) => (failure = err));
    expect(failure).to.be.instanceOf(Error).with.property('message', 'the caller’s own write failed');
    expect(await store.latest('a')).to.include({ revision: 2, signature: 'sha256:1' });
    expect(await store.document('sha256:3')).to.equal(undefined);
  });

  it('stores a rendered revision’s text once: it reads back with its document’s JSON as its source', async () => {
    const store = new ConfigStore(db.sql);
    await store.save({ agentId: 'a', signature: 'sha256:0', document: doc(0), format: 'yaml', sourceText: 'n: 0 # by hand\n', author: 'admin' });
    const [saved] = await store.saveMany([rendered('a', 1)]);
    const json = JSON.stringify(doc(1));
    expect(saved).to.include({ source_text: json, format: 'json' });
    expect(await db.sql.get('SELECT source_text FROM agent_config_revisions WHERE agent_id = ? AND revision = 2', ['a'])).to.deep.equal({ source_text: '' });
    expect(await store.latest('a')).to.include({ source_text: json, revision: 2 });
    expect((await store.latest('a'))!.document).to.deep.equal(doc(1));
    expect(await store.revision('a', 2)).to.include({ source_text: json });
    expect(await store.revision('a', 1)).to.include({ source_text: 'n: 0 # by hand\n', format: 'yaml' });
    expect((await store.history('a')).map((r) => r.source_text)).to.deep.equal([json, 'n: 0 # by hand\n']);
    expect(await store.head('a')).to.include({ revision: 2, signature: 'sha256:1' });
  });

  it('stores a save of more members than one statement carries (chunks), numbered per agent', async () => {
    const store = new ConfigStore(db.sql);
    const entries = Array.from({ length: 1234 }, (_, i) => rendered(`m${String(i).padStart(4, '0')}`, i % 3));
    await store.saveMany(entries);
    const again = await store.saveMany(entries);
    expect(new Set(again.map((r) => r.revision))).to.deep.equal(new Set([2]));
    expect(await db.sql.get('SELECT COUNT(*) AS n FROM agent_config_revisions')).to.deep.equal({ n: 2468 });
    expect(await db.sql.get('SELECT COUNT(*) AS n FROM config_documents')).to.deep.equal({ n: 3 });
  });

  it('refuses a save whose precondition fails, storing nothing', async () => {
    const store = new ConfigStore(db.sql);
    await store.save({ agentId: 'a', signature: 'sha256:0', document: doc(0), format: 'yaml', sourceText: 'n: 0\n', author: 'admin' });
    const outcome = await store.save({ agentId: 'a', signature: 'sha256:1', document: doc(1), format: 'yaml', sourceText: 'n: 1\n', author: 'admin', precondition: (current) => current?.revision === 7 });
    expect(outcome).to.have.property('conflict').that.includes({ revision: 1 });
    expect(await store.head('a')).to.include({ revision: 1 });
  });
});

describe('config store: two Fusion processes on one PostgreSQL', function () {
  before(async function () {
    await requirePostgres(this);
  });

  it('never hand out the same revision or lose a save when they save the same agents at once', async () => {
    const database = await createTempDatabase();
    // Two pools on one database: what two Fusion processes are to it.
    const first = await openPostgres(database.url, { maxConnections: 4 });
    const second = await openPostgres(database.url, { maxConnections: 4 });
    try {
      const stores = [new ConfigStore(first), new ConfigStore(second)];
      const saves: Array<Promise<unknown>> = [];
      for (let i = 0; i < 40; i++) {
        const store = stores[i % 2]!;
        // Single saves of one agent, and bulk saves covering it and others, interleaved.
        saves.push(store.save({ agentId: 'shared', signature: `sha256:s${i}`, document: doc(i), format: 'yaml', sourceText: `n: ${i}\n`, author: `p${i % 2}` }));
        saves.push(store.saveMany([rendered('shared', 1000 + i), rendered(`other${i % 5}`, 2000 + i)]));
      }
      await Promise.all(saves);
      const rows = await first.all<{ revision: number }>("SELECT revision FROM agent_config_revisions WHERE agent_id = 'shared' ORDER BY revision");
      expect(rows.map((r) => r.revision)).to.deep.equal(Array.from({ length: 80 }, (_, i) => i + 1));
      expect(await first.get('SELECT COUNT(*) AS n FROM agent_config_revisions')).to.deep.equal({ n: 120 });
    } finally {
      await first.close();
      await second.close();
      await database.drop();
    }
  });
});
