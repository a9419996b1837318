import { expect } from 'chai';
import { eventually } from '../harness/eventually.js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFusion, sampleConfig, type TestFusion } from '../harness/index.js';
import { skipOnPostgres } from '../harness/test-database.js';
import { StorageError } from '../../server/store/storage-errors.js';

/** Mounts a small tmpfs (needs root, as in CI); undefined where mounting is not allowed. */
function mountSmallDisk(megabytes: number): { path: string; unmount(): void } | undefined {
  const path = mkdtempSync(join(tmpdir(), 'fusion-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${megabytes}m`, 'tmpfs', path], { stdio: 'ignore' });
  } catch {
    rmSync(path, { recursive: true, force: true });
    return undefined;
  }
  return {
    path,
    unmount: () => {
      execFileSync('umount', ['-l', path], { stdio: 'ignore' });
      rmSync(path, { recursive: true, force: true });
    },
  };
}

/** Writes a file until the disk is full. */
function fill(file: string): void {
  try {
    writeFileSync(file, Buffer.alloc(64 * 1024 * 1024));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  }
}

describe('storage errors', function () {
  before(function () {
    skipOnPostgres(this);
  });

  this.timeout(30_000);

  it('names SQLite storage failures with a status and a stable code', () => {
    const full = StorageError.from(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }));
    expect(full).to.include({ status: 507, code: 'storage_full' });
    expect(StorageError.from(Object.assign(new Error('attempt to write a readonly database'), { code: 'SQLITE_READONLY' }))).to.include({ status: 503, code: 'storage_read_only' });
    expect(StorageError.from(Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR_WRITE' }))).to.include({ status: 503, code: 'storage_error' });
    expect(StorageError.from(Object.assign(new Error('UNIQUE constraint failed'), { code: 'SQLITE_CONSTRAINT_PRIMARYKEY' }))).to.equal(undefined);
  });

  describe('on a small disk of its own (tmpfs)', () => {
    let disk: ReturnType<typeof mountSmallDisk>;
    let fusion: TestFusion | undefined;

    before(function () {
      disk = mountSmallDisk(16);
      if (!disk) this.skip(); // Mounting needs root (CI runs as root).
    });
    after(async () => {
      await fusion?.stop();
      disk?.unmount();
    });

    it('answers 507 storage_full, shows it on /healthz, and writes again once space is freed', async () => {
      fusion = await startFusion({ home: join(disk!.path, 'home') });
      const save = (i: number) => fusion!.json('POST', `/api/v1/management/agents/disk-${i}/config/structured`, sampleConfig({ root: `/srv/${i}`, pipes: 20 }));
      expect((await save(0)).status).to.equal(201);
      const agent = await fusion.rawAgent('disk-agent');
      const filler = join(disk!.path, 'filler');
      fill(filler);

      const refused = await save(1);
      expect(refused.status).to.equal(507);
      expect(refused.body.error.code).to.equal('storage_full');
      expect(refused.body.error.message).to.match(/disk .* is full/);
      // Within a second of the refusal /healthz shows it without a probe write (which a write of one page might pass).
      const health = await fusion.json('GET', '/healthz');
      expect(health.status).to.equal(503);
      expect(health.body).to.deep.include({ status: 'degraded' });
      expect(health.body.storage.state).to.equal('storage_full');
      // Reads still work, and so does the agent's connection (its refused writes are lost, not fatal).
      expect((await fusion.json('GET', '/api/v1/management/agents/disk-0/config/history')).body.revisions).to.have.length(1);
      agent.send({ type: 'status', pipes: [{ id: 'p', state: 'running', records_sent: 1, last_error: null }] });

      rmSync(filler);
      // The next probe (at most one a second) finds the space back.
      const healed = await eventually(async () => {
        const h = await fusion!.json('GET', '/healthz');
        return h.status === 200 && h;
      });
      expect(healed.status).to.equal(200);
      expect(healed.body).to.deep.equal({ status: 'ok', storage: { state: 'ok' } });
      expect((await save(2)).status).to.equal(201);
      expect((await fusion.json('GET', '/api/v1/management/agents/disk-1/config/history')).body.revisions, 'the refused save left nothing').to.deep.equal([]);
      await fusion.restart();
      expect((await fusion.json('GET', '/api/v1/management/agents/disk-2/config/history')).body.revisions).to.have.length(1);
    });

    it('refuses to start on a read-only file system, naming it', async () => {
      await fusion?.stop();
      fusion = undefined;
      execFileSync('mount', ['-o', 'remount,ro', disk!.path]);
      try {
        let refused: unknown;
        await startFusion({ home: join(disk!.path, 'home') }).catch((err: unknown) => (refused = err));
        expect(refused).to.be.instanceOf(StorageError);
        expect(refused).to.include({ code: 'storage_read_only' });
        expect((refused as Error).message).to.match(/home is on a read-only file system/);
      } finally {
        execFileSync('mount', ['-o', 'remount,rw', disk!.path]);
      }
    });
  });
});
