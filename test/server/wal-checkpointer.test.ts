import { expect } from 'chai';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { openStore, type OpenStore } from '../../server/store/open-store.js';
import { BACKSTOP_PAGES, LOG_SIZE_LIMIT_BYTES, SQLITE_DEFAULT_AUTOCHECKPOINT, WalCheckpointer } from '../../server/store/wal-checkpointer.js';
import { skipOnPostgres } from '../harness/test-database.js';
import { eventually, tempHome } from '../harness/index.js';

const log = pino({ level: 'silent' });
const size = (file: string): number => (existsSync(file) ? statSync(file).size : 0);

/** Writes about `mib` MiB in one transaction (a template saved for thousands of members writes this much). */
async function bigCommit(store: OpenStore, mib: number): Promise<void> {
  await store.sql.exec('CREATE TABLE IF NOT EXISTS bulk (v TEXT NOT NULL)');
  await store.sql.transaction(async () => {
    for (let i = 0; i < mib * 256; i++) await store.sql.run('INSERT INTO bulk (v) VALUES (?)', [`${i}`.padEnd(4000, 'x')]);
  });
}

describe('SQLite write-ahead log checkpoints on a thread of their own', function () {
  before(function () {
    skipOnPostgres(this);
  });
  this.timeout(30_000);

  let home: Awaited<ReturnType<typeof tempHome>>;
  let store: OpenStore | undefined;
  beforeEach(async () => {
    home = await tempHome('fusion-wal-');
  });
  afterEach(async () => {
    await store?.sql.close();
    store = undefined;
    await home.remove();
  });

  it("a commit of megabytes returns without copying the log into the database file; the thread copies it, and the log restarts", async () => {
    store = await openStore({ home: home.path, log });
    const file = join(home.path, 'fusion.db');
    expect(store.sqlite!.pragma('wal_autocheckpoint', { simple: true })).to.equal(BACKSTOP_PAGES);
    const before = size(file);
    await bigCommit(store, 6);
    // Past SQLite's own threshold (1,000 pages): its automatic checkpoint would have grown the file inside the commit.
    expect(size(`${file}-wal`)).to.be.greaterThan(SQLITE_DEFAULT_AUTOCHECKPOINT * 4096);
    expect(size(file)).to.equal(before);
    await eventually(() => expect(size(file)).to.be.greaterThan(before + 5 * 1024 * 1024));
    await eventually(() => expect(store!.checkpointer!.last?.checkpointed).to.be.greaterThan(SQLITE_DEFAULT_AUTOCHECKPOINT));
    // Once copied, the next commits write the log from its start: it stays the size of the largest commit.
    const logSize = size(`${file}-wal`);
    for (let round = 0; round < 3; round++) {
      const runs = store.checkpointer!.runs;
      await bigCommit(store, 6);
      await eventually(() => expect(store!.checkpointer!.runs).to.be.greaterThan(runs));
    }
    expect(size(`${file}-wal`)).to.be.at.most(logSize + 1024 * 1024);
    expect(((await store.sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM bulk'))!).n).to.equal(4 * 6 * 256);
  });

  it('a burst that grew the log past 16 MiB gives the disk space back when the log restarts', async () => {
    store = await openStore({ home: home.path, log });
    const wal = join(home.path, 'fusion.db-wal');
    await bigCommit(store, 24);
    expect(size(wal)).to.be.greaterThan(24 * 1024 * 1024);
    await eventually(() => expect(store!.checkpointer!.last?.checkpointed).to.be.greaterThan(6000));
    // Nothing written since: the thread looks at the log again and again, but copies nothing more.
    const copied = await store.checkpointer!.checkpointNow();
    const later = await eventually(async () => {
      const now = await store!.checkpointer!.checkpointNow();
      expect(now.looks).to.be.at.least(copied.looks + 4);
      return now;
    });
    expect(later.timed).to.equal(copied.timed);
    await bigCommit(store, 1);
    expect(size(wal)).to.be.at.most(LOG_SIZE_LIMIT_BYTES);
  });

  it('closing Fusion ends the thread first, so the last connection removes the log', async () => {
    store = await openStore({ home: home.path, log });
    await bigCommit(store, 1);
    await store.sql.close();
    store = undefined;
    expect(existsSync(join(home.path, 'fusion.db-wal'))).to.equal(false);
  });

  it('when the thread cannot run, the caller is told so it checkpoints on its own again', async () => {
    let stopped = 0;
    const checkpointer = new WalCheckpointer(join(home.path, 'missing.db'), { log, onStopped: () => stopped++ });
    await eventually(() => expect(stopped).to.equal(1));
    expect(checkpointer.running).to.equal(false);
    expect((await checkpointer.checkpointNow()).error).to.match(/stopped/);
    await checkpointer.close();
  });
});
