/**
 * The agent packages Fusion serves: one row per version (sha256, size, who
 * uploaded it and when) in `agent_packages`, and the file itself under
 * `$FUSTOR_HOME/packages/<version>.tgz`. A file is renamed into place only
 * after its row is stored, and rows whose file is missing are dropped at
 * start, so a listed package can always be downloaded.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../shared/logger.js';
import type { Sql } from '../store/sql.js';
import { HttpError } from '../http/errors.js';

export interface PackageRecord {
  version: string;
  /** sha256 of the .tgz, 64 hex digits. */
  sha256: string;
  /** Size of the .tgz in bytes. */
  size: number;
  uploaded_at: number;
  /** Name of the admin token that uploaded it. */
  uploaded_by: string;
  /** Ed25519 signature of the .tgz (base64) given at upload, or null for an unsigned package. */
  signature: string | null;
}

export class PackageStore {
  readonly dir: string;

  constructor(
    private readonly sql: Sql,
    home: string,
    private readonly log: Logger,
  ) {
    this.dir = path.join(home, 'packages');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  async list(): Promise<PackageRecord[]> {
    return await this.sql.all<PackageRecord>('SELECT * FROM agent_packages ORDER BY uploaded_at, version');
  }

  async get(version: string): Promise<PackageRecord | undefined> {
    return await this.sql.get<PackageRecord>('SELECT * FROM agent_packages WHERE version = ?', [version]);
  }

  /** Path of a package's file (the version must be a valid package version). */
  file(version: string): string {
    return path.join(this.dir, `${version}.tgz`);
  }

  /** Stores a package; 409 `package_exists` when the version is already there. */
  async add(version: string, data: Buffer, uploadedBy: string, signature: string | null = null): Promise<PackageRecord> {
    const record: PackageRecord = {
      version,
      sha256: createHash('sha256').update(data).digest('hex'),
      size: data.length,
      uploaded_at: Date.now(),
      uploaded_by: uploadedBy,
      signature,
    };
    if (await this.get(version)) throw exists(version);
    const temp = path.join(this.dir, `.${version}.${randomBytes(6).toString('hex')}.tmp`);
    writeFileSync(temp, data, { mode: 0o600 });
    try {
      const inserted = await this.sql.run(
        `INSERT INTO agent_packages (version, sha256, size, uploaded_at, uploaded_by, signature) VALUES (@version, @sha256, @size, @uploaded_at, @uploaded_by, @signature)
         ON CONFLICT (version) DO NOTHING`,
        { ...record },
      );
      if (inserted.changes === 0) throw exists(version);
      try {
        renameSync(temp, this.file(version));
      } catch (err) {
        await this.sql.run('DELETE FROM agent_packages WHERE version = ?', [version]);
        throw err;
      }
    } finally {
      rmSync(temp, { force: true });
    }
    return record;
  }

  /**
   * Inside a transaction: holds the version against a delete until the
   * transaction ends (what names the package is stored while it still
   * exists); 400 `unknown_package` when it is gone.
   */
  async hold(version: string): Promise<PackageRecord> {
    await this.sql.lock(`package:${version}`);
    const record = await this.get(version);
    if (!record) throw unknownPackage(version);
    return record;
  }

  /**
   * Deletes a package once `check` passed, the check and the delete under the
   * version's lock (see {@link hold}); false when there was none. The file
   * goes after the commit.
   */
  async remove(version: string, check: () => Promise<void> = async () => undefined): Promise<boolean> {
    const removed = await this.sql.transaction(async () => {
      await this.sql.lock(`package:${version}`);
      if (!(await this.get(version))) return false;
      await check();
      return (await this.sql.run('DELETE FROM agent_packages WHERE version = ?', [version])).changes > 0;
    });
    if (removed) rmSync(this.file(version), { force: true });
    return removed;
  }

  /** Drops rows without a file, and leftovers of an interrupted upload (once, at start). */
  async reconcile(): Promise<void> {
    for (const record of await this.list()) {
      if (!existsSync(this.file(record.version))) {
        this.log.warn({ version: record.version }, 'agent package file is missing; forgetting the package');
        await this.sql.run('DELETE FROM agent_packages WHERE version = ?', [record.version]);
      }
    }
    for (const name of readdirSync(this.dir)) {
      if (name.startsWith('.') && name.endsWith('.tmp')) rmSync(path.join(this.dir, name), { force: true });
    }
  }
}

/** 400 `unknown_package`: nothing of that version is uploaded. */
export function unknownPackage(version: string): HttpError {
  return new HttpError(400, 'unknown_package', `no agent package of version ${version} is uploaded (POST /api/v1/management/packages)`);
}

function exists(version: string): HttpError {
  return new HttpError(409, 'package_exists', `a package of version ${version} is already uploaded; delete it first to replace it`);
}
