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
import type { Db } from '../store/database.js';
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
    private readonly db: Db,
    home: string,
    private readonly log: Logger,
  ) {
    this.dir = path.join(home, 'packages');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.reconcile();
  }

  list(): PackageRecord[] {
    return this.db.prepare('SELECT * FROM agent_packages ORDER BY uploaded_at, version').all() as PackageRecord[];
  }

  get(version: string): PackageRecord | undefined {
    return this.db.prepare('SELECT * FROM agent_packages WHERE version = ?').get(version) as PackageRecord | undefined;
  }

  /** Path of a package's file (the version must be a valid package version). */
  file(version: string): string {
    return path.join(this.dir, `${version}.tgz`);
  }

  /** Stores a package; 409 `package_exists` when the version is already there. */
  add(version: string, data: Buffer, uploadedBy: string, signature: string | null = null): PackageRecord {
    const record: PackageRecord = {
      version,
      sha256: createHash('sha256').update(data).digest('hex'),
      size: data.length,
      uploaded_at: Date.now(),
      uploaded_by: uploadedBy,
      signature,
    };
    if (this.get(version)) throw exists(version);
    const temp = path.join(this.dir, `.${version}.${randomBytes(6).toString('hex')}.tmp`);
    writeFileSync(temp, data, { mode: 0o600 });
    try {
      try {
        this.db
          .prepare('INSERT INTO agent_packages (version, sha256, size, uploaded_at, uploaded_by, signature) VALUES (@version, @sha256, @size, @uploaded_at, @uploaded_by, @signature)')
          .run(record);
      } catch (err) {
        if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw exists(version);
        throw err;
      }
      try {
        renameSync(temp, this.file(version));
      } catch (err) {
        this.db.prepare('DELETE FROM agent_packages WHERE version = ?').run(version);
        throw err;
      }
    } finally {
      rmSync(temp, { force: true });
    }
    return record;
  }

  /** Deletes a package; false when there was none. */
  remove(version: string): boolean {
    const removed = this.db.prepare('DELETE FROM agent_packages WHERE version = ?').run(version).changes > 0;
    if (removed) rmSync(this.file(version), { force: true });
    return removed;
  }

  /** Drops rows without a file, and leftovers of an interrupted upload. */
  private reconcile(): void {
    for (const record of this.list()) {
      if (!existsSync(this.file(record.version))) {
        this.log.warn({ version: record.version }, 'agent package file is missing; forgetting the package');
        this.db.prepare('DELETE FROM agent_packages WHERE version = ?').run(record.version);
      }
    }
    for (const name of readdirSync(this.dir)) {
      if (name.startsWith('.') && name.endsWith('.tmp')) rmSync(path.join(this.dir, name), { force: true });
    }
  }
}

function exists(version: string): HttpError {
  return new HttpError(409, 'package_exists', `a package of version ${version} is already uploaded; delete it first to replace it`);
}
