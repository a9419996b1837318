/**
 * The first seven SQLite schema steps (versions 1 – 7: configs and their
 * revisions, agents, commands, tokens, groups and their rollouts, agent
 * packages and upgrade rollouts, the audit log), applied before the later
 * ones in migrations.ts. Never edit an applied step.
 */
export const FIRST_MIGRATIONS: readonly string[] = [
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
  `
  ALTER TABLE tokens ADD COLUMN group_name TEXT;
  CREATE INDEX tokens_agent ON tokens(kind, agent_id);
  CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    actor       TEXT,
    token_id    TEXT,
    role        TEXT,
    address     TEXT,
    method      TEXT NOT NULL,
    path        TEXT NOT NULL,
    target      TEXT,
    status      INTEGER NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    error_code  TEXT
  );
  CREATE INDEX audit_log_at ON audit_log(at);
  `,
  `
  CREATE TABLE config_groups (
    name         TEXT PRIMARY KEY,
    description  TEXT NOT NULL DEFAULT '',
    revision     INTEGER NOT NULL,
    signature    TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
  );
  CREATE TABLE group_template_revisions (
    group_name    TEXT NOT NULL REFERENCES config_groups(name) ON DELETE CASCADE,
    revision      INTEGER NOT NULL,
    signature     TEXT NOT NULL,
    template      TEXT NOT NULL,
    author        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    restored_from INTEGER,
    PRIMARY KEY (group_name, revision)
  );
  CREATE TABLE group_members (
    agent_id          TEXT PRIMARY KEY,
    group_name        TEXT NOT NULL REFERENCES config_groups(name),
    variables         TEXT NOT NULL DEFAULT '{}',
    override          TEXT,
    assigned_by       TEXT NOT NULL,
    assigned_at       INTEGER NOT NULL,
    rendered_revision INTEGER
  );
  CREATE INDEX group_members_group ON group_members(group_name, agent_id);
  CREATE TABLE rollouts (
    id                TEXT PRIMARY KEY,
    group_name        TEXT NOT NULL REFERENCES config_groups(name) ON DELETE CASCADE,
    from_revision     INTEGER,
    to_revision       INTEGER NOT NULL,
    strategy          TEXT NOT NULL,
    status            TEXT NOT NULL,
    batch_count       INTEGER NOT NULL,
    current_batch     INTEGER NOT NULL,
    failures_baseline INTEGER NOT NULL DEFAULT 0,
    next_batch_at     INTEGER,
    status_reason     TEXT,
    author            TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    finished_at       INTEGER
  );
  CREATE INDEX rollouts_group ON rollouts(group_name, created_at);
  CREATE INDEX rollouts_status ON rollouts(status);
  CREATE TABLE rollout_agents (
    rollout_id  TEXT NOT NULL REFERENCES rollouts(id) ON DELETE CASCADE,
    agent_id    TEXT NOT NULL,
    batch       INTEGER NOT NULL,
    state       TEXT NOT NULL,
    signature   TEXT,
    error       TEXT,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (rollout_id, agent_id)
  );
  CREATE INDEX rollout_agents_agent ON rollout_agents(agent_id, state);
  CREATE INDEX rollout_agents_batch ON rollout_agents(rollout_id, batch, state);
  `,
  `
  ALTER TABLE rollout_agents ADD COLUMN awaited INTEGER NOT NULL DEFAULT 0;
  `,
  `
  CREATE TABLE agent_packages (
    version      TEXT PRIMARY KEY,
    sha256       TEXT NOT NULL,
    size         INTEGER NOT NULL,
    uploaded_at  INTEGER NOT NULL,
    uploaded_by  TEXT NOT NULL
  );
  `,
  `
  CREATE TABLE upgrade_rollouts (
    id               TEXT PRIMARY KEY,
    version          TEXT NOT NULL,
    status           TEXT NOT NULL,
    status_reason    TEXT,
    batch_size       INTEGER NOT NULL,
    batch_count      INTEGER NOT NULL,
    current_batch    INTEGER NOT NULL,
    pause_seconds    INTEGER NOT NULL,
    max_failures     INTEGER NOT NULL,
    failures_baseline INTEGER NOT NULL DEFAULT 0,
    ttl_seconds      INTEGER NOT NULL,
    next_batch_at    INTEGER,
    author           TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    finished_at      INTEGER
  );
  CREATE INDEX upgrade_rollouts_status ON upgrade_rollouts(status);
  CREATE TABLE upgrade_rollout_agents (
    rollout_id  TEXT NOT NULL REFERENCES upgrade_rollouts(id) ON DELETE CASCADE,
    agent_id    TEXT NOT NULL,
    batch       INTEGER NOT NULL,
    command_id  TEXT,
    PRIMARY KEY (rollout_id, agent_id)
  );
  CREATE INDEX upgrade_rollout_agents_command ON upgrade_rollout_agents(command_id);
  `,
];
