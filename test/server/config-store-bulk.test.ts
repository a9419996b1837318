import { expect } from 'chai';
import { ConfigStore } from '../../server/store/config-store.js';
import type { Db } from '../../server/store/database.js';
import { tempDatabase, type TempDatabase } from './temp-database.js';

describe('config store: bulk save of rendered revisions', () => {
  let temp: TempDatabase;
  let db: Db;

  beforeEach(async () => {
    temp = await tempDatabase('config-store-');
    db = temp.db;
  });

  afterEach(async () => {
    await temp.remove();
  });

  const doc = (n: number): Record<string, unknown> => ({ sources: {}, senders: {}, pipes: {}, n });
  const rendered = (agentId: string, n: number): Parameters<ConfigStore['saveMany']>[0][number] => ({
    agentId,
    signature: `sha256:${n}`,
    document: doc(n),
    format: 'json',
    sourceText: '',
    author: 'group:g@2',
  });

  it('numbers each agent’s revisions on, stores a shared document once, and all or nothing', () => {
    const store = new ConfigStore(db);
    const admin = store.save({ agentId: 'a', signature: 'sha256:0', document: doc(0), format: 'yaml', sourceText: 'n: 0 # by hand\n', author: 'admin' });
    expect('revision' in admin && admin.revision.revision).to.equal(1);
    const saved = store.saveMany([rendered('a', 1), rendered('b', 1), rendered('c', 2)]);
    expect(saved.map((r) => [r.agent_id, r.revision, r.signature])).to.deep.equal([
      ['a', 2, 'sha256:1'],
      ['b', 1, 'sha256:1'],
      ['c', 1, 'sha256:2'],
    ]);
    expect(db.prepare('SELECT COUNT(*) AS n FROM config_documents').get()).to.deep.equal({ n: 3 });
    expect(() =>
      store.saveMany([rendered('a', 3)], () => {
        throw new Error('the caller’s own write failed');
      }),
    ).to.throw('the caller’s own write failed');
    expect(store.latest('a')).to.include({ revision: 2, signature: 'sha256:1' });
    expect(store.document('sha256:3')).to.equal(undefined);
  });

  it('stores a rendered revision’s text once: it reads back with its document’s JSON as its source', () => {
    const store = new ConfigStore(db);
    store.save({ agentId: 'a', signature: 'sha256:0', document: doc(0), format: 'yaml', sourceText: 'n: 0 # by hand\n', author: 'admin' });
    const [saved] = store.saveMany([rendered('a', 1)]);
    const json = JSON.stringify(doc(1));
    expect(saved).to.include({ source_text: json, format: 'json' });
    expect(db.prepare('SELECT source_text FROM agent_config_revisions WHERE agent_id = ? AND revision = 2').get('a')).to.deep.equal({ source_text: '' });
    expect(store.latest('a')).to.include({ source_text: json, revision: 2 });
    expect(store.latest('a')!.document).to.deep.equal(doc(1));
    expect(store.revision('a', 2)).to.include({ source_text: json });
    expect(store.revision('a', 1)).to.include({ source_text: 'n: 0 # by hand\n', format: 'yaml' });
    expect(store.history('a').map((r) => r.source_text)).to.deep.equal([json, 'n: 0 # by hand\n']);
  });
});
