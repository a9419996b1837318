import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type Db = Database.Database;

/**
 * Schema migrations, applied in order; `user_version` records how many ran.
 * Append new entries; never edit an applied one.
 */
const MIGRATIONS: string[] = [
  `
  CREATE TABLE config_documents (
    signature   TEXT PRIMARY KEY,
    document    TEXT NOT NULL
  );
  CREATE TABLE agent_config_revisions (
    agent_id    TEXT NOT NULL,
    revision    INTEGER NOT NULL,
    signature   TEXT NOT NULL REFERENCES config_documents(signature),
    format      TEXT NOT NULL CHECK (format IN ('yaml', 'json')),
    source_text TEXT NOT NULL,
    author      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (agent_id, revision)
  );
  CREATE TABLE agents (
    agent_id          TEXT PRIMARY KEY,
    version           TEXT,
    hostname          TEXT,
    address           TEXT,
    capabilities      TEXT,
    first_seen        INTEGER,
    last_seen         INTEGER,
    connected_at      INTEGER,
    running_signature TEXT,
    running_source    TEXT,
    applied_signature TEXT,
    status_signature  TEXT,
    status            TEXT,
    status_error      TEXT,
    status_at         INTEGER,
    pipes             TEXT
  );
  CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('admin', 'enrollment', 'agent')),
    name        TEXT NOT NULL,
    hash        TEXT NOT NULL,
    role        TEXT,
    agent_id    TEXT,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    max_uses    INTEGER,
    uses        INTEGER NOT NULL DEFAULT 0,
    revoked_at  INTEGER
  );
  CREATE INDEX tokens_kind ON tokens(kind, revoked_at);
  `,
  `
  CREATE TABLE commands (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    agent_id        TEXT NOT NULL,
    type            TEXT NOT NULL,
    args            TEXT NOT NULL,
    status          TEXT NOT NULL,
    author          TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER,
    sent_at         INTEGER,
    acknowledged_at INTEGER,
    finished_at     INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,
    output          TEXT,
    error           TEXT,
    batch_id        TEXT
  );
  CREATE INDEX commands_agent_status ON commands(agent_id, status, seq);
  CREATE INDEX commands_status_expiry ON commands(status, expires_at);
  CREATE TABLE command_transitions (
    command_id  TEXT NOT NULL,
    status      TEXT NOT NULL,
    at          INTEGER NOT NULL,
    detail      TEXT
  );
  CREATE INDEX command_transitions_id ON command_transitions(command_id, at);
  CREATE TABLE config_reports (
    agent_id    TEXT PRIMARY KEY,
    signature   TEXT,
    revision    INTEGER,
    source      TEXT NOT NULL,
    document    TEXT,
    command_id  TEXT,
    reported_at INTEGER NOT NULL
  );
  `,
];

/**
 * Opens (creating if needed) Fusion's SQLite database in WAL mode and brings
 * its schema up to date. WAL with synchronous=NORMAL survives a killed process
 * without losing committed transactions.
 */
export function openDatabase(file: string): Db {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  return db;
}

function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  for (let version = current; version < MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version]!);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}
