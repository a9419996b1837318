/**
 * Fusion's state directory holds the database (configs, tokens' hashes,
 * encrypted secrets), fusion.yaml (data API keys) and the secret key: the
 * directory is kept 0700 and those files 0600 at every start, including
 * files an older version or an admin created with wider modes.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';

/** Files under the home that hold secrets, when present. */
const PRIVATE_FILES = ['fusion.db', 'fusion.db-wal', 'fusion.db-shm', 'fusion.yaml', 'secret.key'];

/** Creates `home` if needed and narrows it to 0700 and its private files to 0600. */
export function secureHome(home: string): void {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  narrow(home, 0o700);
  for (const name of PRIVATE_FILES) narrowFile(path.join(home, name));
}

/**
 * chmod that passes over what is missing and a read-only file system (whose
 * modes nobody can change; opening the database then refuses it, naming the
 * storage error).
 */
function narrow(file: string, mode: number): void {
  try {
    chmodSync(file, mode);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'EROFS') throw err;
  }
}

/**
 * Creates `file` empty with mode 0600 when it does not exist (SQLite then
 * gives its -wal and -shm files the database file's mode) and narrows it
 * to 0600 when it does.
 */
export function createPrivateFile(file: string): void {
  if (!existsSync(file)) closeSync(openSync(file, 'a', 0o600));
  chmodSync(file, 0o600);
}

/** Narrows `file` to 0600 if it exists. */
export function narrowFile(file: string): void {
  narrow(file, 0o600);
}
