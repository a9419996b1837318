import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { RawAgentClient, startFusion, tempHome, type TestFusion } from '../harness/index.js';
import { StatusLoad } from '../chaos/agent-load.js';
import { backupDatabase } from '../../server/store/backup.js';
import { skipOnPostgres } from '../harness/test-database.js';
import { SaveLoops, lostSaves, type AckedSave } from '../chaos/acked-saves.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Puts `db` in a fresh home as fusion.db (the documented restore) and starts Fusion on it. */
async function restoreInto(home: string, db: Buffer): Promise<TestFusion> {
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, 'fusion.db'), db);
  return startFusion({ home });
}

describe('backup and restore', function () {
  before(function () {
    skipOnPostgres(this);
  });

  this.timeout(60_000);
  let fusion: TestFusion | undefined;
  let restored: TestFusion | undefined;
  let load: StatusLoad | undefined;
  let scratch: Awaited<ReturnType<typeof tempHome>>;

  beforeEach(async () => {
    scratch = await tempHome('fusion-backup-');
  });
  afterEach(async () => {
    load?.stop();
    await restored?.stop();
    await fusion?.stop();
    await scratch.remove();
    restored = fusion = load = undefined;
  });

  it('takes a consistent backup over the API while agents and admins write; the restored home has every write acknowledged before it and serves', async () => {
    fusion = await startFusion();
    load = await StatusLoad.start(fusion.url, fusion.enrollmentToken, { count: 20, prefix: 'busy', intervalMs: 10 });
    const saves = new SaveLoops(fusion.url, fusion.adminToken, { concurrency: 4, prefix: 'saved' });
    let ackedBefore: AckedSave[] = [];
    try {
      await new Promise<void>((resolve) => {
        const check = setInterval(() => {
          if (saves.acked.length < 20) return;
          clearInterval(check);
          resolve();
        }, 10);
      });
      ackedBefore = [...saves.acked];
      const res = await fusion.api('/api/v1/management/backup', { method: 'POST' });
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.equal('application/vnd.sqlite3');
      const backup = Buffer.from(await res.arrayBuffer());
      expect(backup.length).to.equal(Number(res.headers.get('content-length')));
      await saves.stop();
      expect(saves.acked.length, 'saves went on during the backup').to.be.greaterThan(ackedBefore.length);

      restored = await restoreInto(join(scratch.path, 'restored'), backup);
      expect(await lostSaves(restored.url, restored.adminToken, ackedBefore)).to.deep.equal([]);
      expect((await restored.json('GET', '/healthz')).status).to.equal(200);
      // An agent enrolled before the backup keeps its credential.
      const [agentId, credential] = [...load.credentials][0]!;
      const agent = await RawAgentClient.connect(restored.url, agentId, credential);
      try {
        const welcome = await agent.hello();
        expect(welcome.credential).to.equal(undefined);
      } finally {
        agent.terminate();
      }
    } finally {
      await saves.stop();
    }
  });

  it("'fusion backup <file>' copies a running Fusion's database into a file a new home starts on", async () => {
    fusion = await startFusion();
    expect((await fusion.json('POST', '/api/v1/management/agents/cli-kept/config/structured', { sources: {}, senders: {}, pipes: {} })).status).to.equal(201);
    const dest = join(scratch.path, 'copy.db');
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'server/main.ts', 'backup', dest, '--home', fusion.home], { cwd: ROOT });
    expect(stdout).to.match(/^backup written: .*copy\.db \(\d+ bytes, \d+ pages, \d+ ms\)/);
    // A backup never overwrites a file.
    let refused: unknown;
    await backupDatabase(join(fusion.home, 'fusion.db'), dest).catch((err: unknown) => (refused = err));
    expect(String(refused)).to.match(/already exists/);
    restored = await restoreInto(join(scratch.path, 'restored'), readFileSync(dest));
    expect((await restored.json('GET', '/api/v1/management/agents/cli-kept/config/history')).body.revisions).to.have.length(1);
  });
});
