import { expect } from 'chai';
import type { Db } from '../../server/store/database.js';
import { tempDatabase, type TempDatabase } from './temp-database.js';

describe('prepared statements are compiled once per SQL text', () => {
  let temp: TempDatabase;
  let db: Db;

  beforeEach(async () => {
    temp = await tempDatabase('statements-');
    db = temp.db;
  });

  afterEach(async () => {
    await temp.remove();
  });

  it('returns the same statement for the same text, and it keeps working across a schema change', () => {
    const sql = 'SELECT COUNT(*) AS n FROM agents';
    const first = db.prepare(sql);
    expect(db.prepare(sql)).to.equal(first);
    expect(db.prepare('SELECT 1 AS one')).to.not.equal(first);
    db.prepare("INSERT INTO agents (agent_id) VALUES ('a')").run();
    db.exec('CREATE TABLE later (x INTEGER)');
    db.prepare("INSERT INTO agents (agent_id) VALUES ('b')").run();
    expect((db.prepare(sql).get() as { n: number }).n).to.equal(2);
  });

  it('does not cache SQL that fails to compile', () => {
    expect(() => db.prepare('SELECT * FROM missing_table')).to.throw(/no such table/);
    db.exec('CREATE TABLE missing_table (x INTEGER)');
    expect(db.prepare('SELECT * FROM missing_table').all()).to.deep.equal([]);
  });
});
