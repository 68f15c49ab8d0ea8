/**
 * The journal's schema, as an ordered list of migrations (docs/journal.md "Schema"). Never edit a released
 * migration: append a new one. `openJournal` applies the missing ones in one transaction and refuses a database
 * whose version is newer than the last one here.
 */

/** One schema step. */
export interface Migration {
  /** 1, 2, 3 … without gaps. */
  version: number
  /** What it changes, for `schema_version.name`. */
  name: string
  /** SQL run with `exec` inside the migration transaction. */
  sql: string
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'operation runs, gates, hash-chained events, outbox, reload fences, locks',
    sql: `
CREATE TABLE operation_runs (
  id          TEXT PRIMARY KEY,
  parent_id   TEXT REFERENCES operation_runs(id),
  root_id     TEXT NOT NULL REFERENCES operation_runs(id),
  lineage     TEXT NOT NULL CHECK (json_valid(lineage)),
  kind        TEXT NOT NULL CHECK (kind IN ('run', 'device', 'step')),
  name        TEXT NOT NULL,
  stack       TEXT NOT NULL,
  device      TEXT,
  ord         INTEGER NOT NULL,
  status      TEXT NOT NULL,
  started_at  TEXT,
  finished_at TEXT,
  detail      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail)),
  CHECK ((kind = 'run') = (parent_id IS NULL)),
  CHECK ((kind = 'run') = (id = root_id))
) STRICT;
CREATE INDEX operation_runs_root ON operation_runs(root_id, kind, ord);
CREATE INDEX operation_runs_parent ON operation_runs(parent_id);
CREATE INDEX operation_runs_history ON operation_runs(started_at) WHERE kind = 'run';
CREATE UNIQUE INDEX operation_runs_device ON operation_runs(root_id, device) WHERE kind = 'device';

CREATE TABLE gate_evaluations (
  id            INTEGER PRIMARY KEY,
  run_id        TEXT NOT NULL REFERENCES operation_runs(id),
  device_run_id TEXT REFERENCES operation_runs(id),
  type          TEXT NOT NULL CHECK (type IN ('before', 'after', 'on_error', 'final')),
  name          TEXT NOT NULL,
  device        TEXT,
  decision      TEXT NOT NULL CHECK (decision IN ('allow', 'veto')),
  reason        TEXT NOT NULL,
  at            TEXT NOT NULL
) STRICT;
CREATE INDEX gate_evaluations_run ON gate_evaluations(run_id, id);

CREATE TABLE events (
  seq              INTEGER PRIMARY KEY,
  run_id           TEXT NOT NULL REFERENCES operation_runs(id),
  operation_run_id TEXT REFERENCES operation_runs(id),
  at               TEXT NOT NULL,
  type             TEXT NOT NULL,
  device           TEXT,
  data             TEXT NOT NULL,
  prev_hash        TEXT NOT NULL,
  hash             TEXT NOT NULL UNIQUE
) STRICT;
CREATE INDEX events_run ON events(run_id, seq);

CREATE TABLE outbox (
  id         INTEGER PRIMARY KEY,
  run_id     TEXT NOT NULL REFERENCES operation_runs(id),
  device     TEXT NOT NULL,
  side       TEXT NOT NULL CHECK (side IN ('predecessor', 'successor')),
  line       TEXT NOT NULL,
  created_at TEXT NOT NULL,
  sent_at    TEXT
) STRICT;
CREATE INDEX outbox_pending ON outbox(run_id, id) WHERE sent_at IS NULL;

CREATE TABLE reload_fences (
  id                  INTEGER PRIMARY KEY,
  run_id              TEXT NOT NULL REFERENCES operation_runs(id),
  device              TEXT NOT NULL,
  sent_at             TEXT NOT NULL,
  restarted_at_before TEXT,
  uptime_before       REAL,
  target_version      TEXT NOT NULL,
  cleared_at          TEXT,
  outcome             TEXT
) STRICT;
CREATE UNIQUE INDEX reload_fences_open ON reload_fences(run_id, device) WHERE cleared_at IS NULL;

CREATE TABLE locks (
  stack       TEXT PRIMARY KEY,
  run_id      TEXT NOT NULL,
  pid         INTEGER NOT NULL,
  pid_start   TEXT,
  hostname    TEXT NOT NULL,
  acquired_at TEXT NOT NULL
) STRICT;
`,
  },
  {
    version: 2,
    name: 'fleets: a fleet of stack runs (DEC-002 council) above the runs',
    // A fleet is the level above its stack runs (docs/fleets.md "Journal"). It has tables of its own: operation_runs'
    // CHECKs make a run the root, and rebuilding that table under the hash chain and its foreign keys is not worth
    // the risk. run_id is not a foreign key: a stack's run row exists only once the stack starts.
    sql: `
CREATE TABLE fleets (
  id          TEXT PRIMARY KEY,
  status      TEXT NOT NULL,
  started_at  TEXT NOT NULL,
  finished_at TEXT,
  detail      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail))
) STRICT;
CREATE INDEX fleets_history ON fleets(started_at);

CREATE TABLE fleet_stacks (
  fleet_id  TEXT NOT NULL REFERENCES fleets(id),
  ord       INTEGER NOT NULL,
  stack     TEXT NOT NULL,
  inventory TEXT NOT NULL,
  run_id    TEXT NOT NULL UNIQUE,
  state     TEXT NOT NULL CHECK (state IN ('pending', 'started', 'not_started')),
  reason    TEXT,
  PRIMARY KEY (fleet_id, ord)
) STRICT;
`,
  },
]

/** The schema version this build writes. */
export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0
