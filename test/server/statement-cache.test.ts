import { expect } from 'chai';
import Database from 'better-sqlite3';
import { StatementCache } from '../../server/store/statement-cache.js';

describe('statement cache', () => {
  it('compiles a text once, keeps at most its size, and drops the least recently used', () => {
    const db = new Database(':memory:');
    try {
      db.exec('CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)');
      const cache = new StatementCache(db, 3);
      const a = cache.get('SELECT v FROM t WHERE k = 1');
      expect(cache.get('SELECT v FROM t WHERE k = 1')).to.equal(a);
      cache.get('SELECT v FROM t WHERE k = 2');
      cache.get('SELECT v FROM t WHERE k = 1'); // used again: now the newest
      cache.get('SELECT v FROM t WHERE k = 3');
      cache.get('SELECT v FROM t WHERE k = 4'); // pushes out k = 2, the least recently used
      expect(cache.count).to.equal(3);
      expect(cache.get('SELECT v FROM t WHERE k = 1')).to.equal(a);
      const before = cache.get('SELECT v FROM t WHERE k = 3');
      expect(cache.get('SELECT v FROM t WHERE k = 2')).to.not.equal(undefined);
      expect(cache.get('SELECT v FROM t WHERE k = 3')).to.equal(before);
    } finally {
      db.close();
    }
  });

  it('a cached statement still runs after the table it reads is altered', () => {
    const db = new Database(':memory:');
    try {
      db.exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'one')");
      const cache = new StatementCache(db);
      expect(cache.get('SELECT * FROM t WHERE k = ?').get(1)).to.deep.equal({ k: 1, v: 'one' });
      db.exec("ALTER TABLE t ADD COLUMN w TEXT DEFAULT 'new'");
      expect(cache.get('SELECT * FROM t WHERE k = ?').get(1)).to.deep.equal({ k: 1, v: 'one', w: 'new' });
    } finally {
      db.close();
    }
  });
});
