import { expect } from 'chai';
import Database from 'better-sqlite3';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { FusionServer } from '../../server/fusion-server.js';
import { DatabaseFileError } from '../../server/store/database-file.js';
import { skipOnPostgres } from '../harness/test-database.js';
import { startFusion, tempHome, TEST_ADMIN_TOKEN } from '../harness/index.js';

/** Starts Fusion on `home`; resolves with the error it refused with, or stops it and resolves undefined. */
async function startOn(home: string, initDatabase = false): Promise<unknown> {
  const server = new FusionServer({ home, port: 0, adminToken: TEST_ADMIN_TOKEN, initDatabase, logger: pino({ level: 'silent' }) });
  try {
    await server.start();
  } catch (err) {
    return err;
  }
  await server.stop();
  return undefined;
}

describe('Fusion refuses a database file that is not its own', function () {
  before(function () {
    skipOnPostgres(this);
  });

  this.timeout(30_000);
  let home: Awaited<ReturnType<typeof tempHome>>;
  beforeEach(async () => {
    home = await tempHome('fusion-dbfile-');
  });
  afterEach(async () => {
    await home.remove();
  });
  const file = (): string => join(home.path, 'fusion.db');

  it('refuses a zero-length fusion.db and leaves it as it was', async () => {
    writeFileSync(file(), '');
    const err = await startOn(home.path);
    expect(err).to.be.instanceOf(DatabaseFileError);
    expect((err as DatabaseFileError).kind).to.equal('empty');
    expect((err as Error).message).to.match(/is empty.*--init-database/);
    expect(statSync(file()).size).to.equal(0);
  });

  it("refuses another program's SQLite database and a file that is not SQLite", async () => {
    const foreign = new Database(file());
    foreign.exec('CREATE TABLE photos (id INTEGER PRIMARY KEY)');
    foreign.close();
    expect(((await startOn(home.path)) as DatabaseFileError).kind).to.equal('foreign');
    writeFileSync(file(), 'not a database at all, just some text that is long enough to have a header'.repeat(20));
    expect(((await startOn(home.path)) as DatabaseFileError).kind).to.equal('not_sqlite');
  });

  it('with --init-database moves the file aside and starts on a new database', async () => {
    writeFileSync(file(), '');
    expect(await startOn(home.path, true)).to.equal(undefined);
    const aside = readdirSync(home.path).filter((n) => n.startsWith('fusion.db.replaced-'));
    expect(aside).to.have.length(1);
    expect(statSync(join(home.path, aside[0]!)).size).to.equal(0);
    expect(statSync(file()).size).to.be.greaterThan(0);
  });

  it('starts on a fresh home and again on the database it created, keeping its data; the flag never replaces it', async () => {
    const fusion = await startFusion({ home: home.path });
    const saved = await fusion.json('POST', '/api/v1/management/agents/kept/config/structured', { sources: {}, senders: {}, pipes: {} });
    expect(saved.status).to.equal(201);
    await fusion.stop();
    expect(existsSync(file())).to.equal(true);
    const again = await startFusion({ home: home.path, initDatabase: true });
    try {
      expect((await again.json('GET', '/api/v1/management/agents/kept/config/history')).body.revisions).to.have.length(1);
    } finally {
      await again.stop();
    }
    expect(readdirSync(home.path).filter((n) => n.startsWith('fusion.db.replaced-'))).to.deep.equal([]);
  });
});
