import { FIRST_MIGRATIONS } from './migrations-first.js';

/**
 * Schema migrations, applied in order; `user_version` records how many ran.
 * Append new entries; never edit an applied one.
 */
export const MIGRATIONS: readonly string[] = [
  ...FIRST_MIGRATIONS,
  // Rollout member rows: no index holds \`state\`, so an acknowledgement (an update
  // by primary key, see RolloutStore) rewrites the row and no index entry. Only
  // the rare move into or out of \`failed\` touches the partial index that counts
  // a rollout's failures.
  `
  DROP INDEX rollout_agents_agent;
  DROP INDEX rollout_agents_batch;
  CREATE INDEX rollout_agents_by_agent ON rollout_agents(agent_id);
  CREATE INDEX rollout_agents_by_batch ON rollout_agents(rollout_id, batch);
  CREATE INDEX rollout_agents_failed ON rollout_agents(rollout_id) WHERE state = 'failed';
  `,
  // The query string of an audited write (e.g. ?force=true, a rollout strategy), secrets removed.
  `
  ALTER TABLE audit_log ADD COLUMN query TEXT;
  `,
  // What an agent says about itself (hello) and what admins say of it (labels), kept apart: JSON objects.
  `
  ALTER TABLE agents ADD COLUMN attributes TEXT;
  ALTER TABLE agents ADD COLUMN labels TEXT;
  ALTER TABLE agents ADD COLUMN running_at INTEGER;
  `,
  // Webhooks: subscriptions by event type, and a delivery log that is also the retry queue.
  `
  CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    url         TEXT NOT NULL,
    events      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    author      TEXT NOT NULL
  );
  CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id       TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_type       TEXT NOT NULL,
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER,
    last_status      INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    finished_at      INTEGER
  );
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at) WHERE status = 'pending';
  CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, id);
  `,
  // Diagnostics bundles agents sent in answer to a `diagnostics` command.
  `
  CREATE TABLE diagnostics_bundles (
    command_id  TEXT PRIMARY KEY,
    agent_id    TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,
    bundle      TEXT NOT NULL
  );
  CREATE INDEX diagnostics_bundles_agent ON diagnostics_bundles(agent_id, created_at);
  `,
  // Reviewed changes (a group may require a second admin's approval), health soak of
  // rollout members, and an audit entry's detail (who authored what a reviewer approved).
  `
  ALTER TABLE config_groups ADD COLUMN require_review INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE rollout_agents ADD COLUMN soak_until INTEGER;
  ALTER TABLE audit_log ADD COLUMN detail TEXT;
  CREATE TABLE group_changes (
    id              TEXT PRIMARY KEY,
    group_name      TEXT NOT NULL REFERENCES config_groups(name) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('template', 'rollback')),
    base_revision   INTEGER NOT NULL,
    template        TEXT NOT NULL,
    signature       TEXT NOT NULL,
    restored_from   INTEGER,
    rolls_back      TEXT,
    strategy        TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'withdrawn')),
    author          TEXT NOT NULL,
    author_token_id TEXT NOT NULL,
    reviewer        TEXT,
    reviewer_token_id TEXT,
    review_comment  TEXT,
    revision        INTEGER,
    rollout_id      TEXT,
    created_at      INTEGER NOT NULL,
    decided_at      INTEGER
  );
  CREATE INDEX group_changes_group ON group_changes(group_name, status, created_at);
  `,
  // Agent identity: a credential remembers the enrollment token it came from
  // (its group) and whether an admin asked for its rotation; enrollment tokens
  // may require an admin's approval, recorded per agent id; a group may let
  // agents join it from their bootstrap.
  `
  ALTER TABLE tokens ADD COLUMN enrollment_token_id TEXT;
  ALTER TABLE tokens ADD COLUMN requires_approval INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE tokens ADD COLUMN rotate_requested_at INTEGER;
  CREATE TABLE enrollment_requests (
    agent_id     TEXT PRIMARY KEY,
    token_id     TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'rejected')),
    hostname     TEXT,
    address      TEXT,
    requested_at INTEGER NOT NULL,
    last_seen    INTEGER NOT NULL,
    decided_at   INTEGER,
    decided_by   TEXT
  );
  ALTER TABLE config_groups ADD COLUMN self_join INTEGER NOT NULL DEFAULT 0;
  `,
  // Secrets an agent config references as \${secret:name}; the value is AES-256-GCM ciphertext (see SecretCipher).
  `
  CREATE TABLE secrets (
    name        TEXT PRIMARY KEY,
    version     INTEGER NOT NULL,
    version_id  TEXT NOT NULL,
    value       BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    updated_by  TEXT NOT NULL
  );
  `,
  // The Ed25519 signature (base64) an upload carried, passed on in upgrade commands.
  `
  ALTER TABLE agent_packages ADD COLUMN signature TEXT;
  `,
  // A group's rule: a label selector whose every matching agent (in no other group) is a member
  // (assigned_by 'rule'); NULL: the group has no rule.
  `
  ALTER TABLE config_groups ADD COLUMN selector TEXT;
  `,
  // Reviewed member changes (a member's variables or override, or an agent put
  // in the group): the kind CHECK widens, so the table is rebuilt; \`member\`
  // holds what the change sets, \`base_member\` the membership it was made against.
  `
  CREATE TABLE group_changes_next (
    id              TEXT PRIMARY KEY,
    group_name      TEXT NOT NULL REFERENCES config_groups(name) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('template', 'rollback', 'member')),
    base_revision   INTEGER NOT NULL,
    template        TEXT NOT NULL,
    signature       TEXT NOT NULL,
    restored_from   INTEGER,
    rolls_back      TEXT,
    strategy        TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'withdrawn')),
    author          TEXT NOT NULL,
    author_token_id TEXT NOT NULL,
    reviewer        TEXT,
    reviewer_token_id TEXT,
    review_comment  TEXT,
    revision        INTEGER,
    rollout_id      TEXT,
    created_at      INTEGER NOT NULL,
    decided_at      INTEGER,
    agent_id        TEXT,
    member          TEXT,
    base_member     TEXT
  );
  INSERT INTO group_changes_next (id, group_name, kind, base_revision, template, signature, restored_from, rolls_back, strategy, status,
      author, author_token_id, reviewer, reviewer_token_id, review_comment, revision, rollout_id, created_at, decided_at)
    SELECT id, group_name, kind, base_revision, template, signature, restored_from, rolls_back, strategy, status,
      author, author_token_id, reviewer, reviewer_token_id, review_comment, revision, rollout_id, created_at, decided_at
    FROM group_changes ORDER BY rowid;
  DROP TABLE group_changes;
  ALTER TABLE group_changes_next RENAME TO group_changes;
  CREATE INDEX group_changes_group ON group_changes(group_name, status, created_at);
  `,
  // 18 → 19: the cluster's event stream (PostgreSQL replicas; unused on SQLite, whose events stay in memory)
  // and which replica serves the data plane
  `
  CREATE TABLE events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    type    TEXT NOT NULL,
    at      INTEGER NOT NULL,
    origin  TEXT NOT NULL,
    bytes   INTEGER NOT NULL,
    data    TEXT NOT NULL
  );
  CREATE TABLE event_stream (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    epoch           TEXT NOT NULL,
    pruned_through  INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE dataplane_holder (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    replica_id  TEXT NOT NULL,
    url         TEXT NOT NULL,
    since       INTEGER NOT NULL
  );
  `,
  // 19 → 20: replicas on one database (their heartbeats; which replica holds an agent's socket)
  `
  CREATE TABLE replicas (
    id           TEXT PRIMARY KEY,
    url          TEXT,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    stopped_at   INTEGER,
    agents       INTEGER NOT NULL DEFAULT 0,
    leases       TEXT NOT NULL DEFAULT '[]'
  );
  ALTER TABLE agents ADD COLUMN replica_id TEXT;
  ALTER TABLE agents ADD COLUMN session_id TEXT;
  `,
];
