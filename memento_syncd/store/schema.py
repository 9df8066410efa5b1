"""DDL of the local database: the application's table (created if missing) and ours.

memento-syncd never alters the application's table. Its own state lives in tables
prefixed ``sync_``; triggers record every application write in ``sync_changes`` in the
same transaction, unless memento-syncd itself is applying pulled data (``sync_guard``).
Migrations are numbered and tracked in ``sync_meta`` (``PRAGMA user_version`` belongs
to the application).
"""

from __future__ import annotations

APP_TABLE = """
CREATE TABLE IF NOT EXISTS observations (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  project     TEXT NOT NULL,
  type        TEXT NOT NULL,
  title       TEXT NOT NULL,
  content     TEXT NOT NULL,
  topic_key   TEXT,
  scope       TEXT NOT NULL DEFAULT 'project',
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL,
  deleted_at  TEXT
)"""

# The application's columns memento-syncd reads and writes (besides ``id``).
APP_COLUMNS = (
    "project", "type", "title", "content", "topic_key", "scope",
    "created_at", "updated_at", "deleted_at",
)  # fmt: skip

_GUARD = "(SELECT applying FROM sync_guard WHERE id = 1) = 0"

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE sync_guard (id INTEGER PRIMARY KEY CHECK (id = 1),"
        " applying INTEGER NOT NULL DEFAULT 0)",
        "INSERT INTO sync_guard (id, applying) VALUES (1, 0)",
        # The change log: a local, strictly increasing sequence (AUTOINCREMENT never reuses).
        "CREATE TABLE sync_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " obs_id INTEGER NOT NULL)",
        "CREATE INDEX sync_changes_obs ON sync_changes (obs_id)",
        # Rows whose similarity index entry must be recomputed.
        "CREATE TABLE sync_dirty (obs_id INTEGER PRIMARY KEY)",
        # Identity and the last synced version of each observation.
        "CREATE TABLE sync_objects (obs_id INTEGER PRIMARY KEY, sync_id TEXT NOT NULL UNIQUE,"
        " server_version INTEGER, base TEXT)",
        # Twins merged into a local row by dedup: their edits land on that row.
        "CREATE TABLE sync_aliases (sync_id TEXT PRIMARY KEY, obs_id INTEGER NOT NULL,"
        " server_version INTEGER NOT NULL, kind TEXT NOT NULL)",
        "CREATE INDEX sync_aliases_obs ON sync_aliases (obs_id)",
        "CREATE TABLE sync_cursors (project TEXT PRIMARY KEY, pull_cursor TEXT,"
        " last_push TEXT, last_pull TEXT, push_count INTEGER NOT NULL DEFAULT 0,"
        " pull_count INTEGER NOT NULL DEFAULT 0)",
        "CREATE TABLE sync_conflicts (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " obs_id INTEGER NOT NULL, sync_id TEXT NOT NULL, project TEXT NOT NULL,"
        " local TEXT NOT NULL, remote TEXT NOT NULL, remote_version INTEGER NOT NULL,"
        " created_at TEXT NOT NULL, resolved_at TEXT, resolution TEXT)",
        "CREATE INDEX sync_conflicts_open ON sync_conflicts (obs_id) WHERE resolved_at IS NULL",
        "CREATE TABLE sync_history (id INTEGER PRIMARY KEY AUTOINCREMENT, obs_id INTEGER,"
        " sync_id TEXT NOT NULL, strategy TEXT NOT NULL, kept TEXT NOT NULL, lost TEXT NOT NULL,"
        " at TEXT NOT NULL)",
        "CREATE TABLE sync_skipped (obs_id INTEGER PRIMARY KEY, reason TEXT NOT NULL)",
        # The persistent similarity index (prefix filtering over a frozen token order).
        "CREATE TABLE sync_vocab (token INTEGER PRIMARY KEY, rank INTEGER NOT NULL)",
        "CREATE TABLE sync_sets (obs_id INTEGER PRIMARY KEY, project TEXT NOT NULL,"
        " scope TEXT NOT NULL, topic_key TEXT, content_hash TEXT NOT NULL,"
        " size INTEGER NOT NULL, tokens BLOB NOT NULL)",
        "CREATE INDEX sync_sets_exact ON sync_sets (project, content_hash)",
        "CREATE TABLE sync_prefix (token INTEGER NOT NULL, obs_id INTEGER NOT NULL,"
        " PRIMARY KEY (token, obs_id)) WITHOUT ROWID",
        "CREATE INDEX sync_prefix_obs ON sync_prefix (obs_id)",
        *(
            f"CREATE TRIGGER sync_capture_{event.lower()} AFTER {event} ON observations"  # noqa: S608
            f" WHEN {_GUARD} BEGIN"
            f" INSERT INTO sync_changes (obs_id) VALUES ({row}.id);"
            f" INSERT OR IGNORE INTO sync_dirty (obs_id) VALUES ({row}.id);"
            " END"
            for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD"))
        ),
        # Rows written before memento-syncd was installed are changes to push and index:
        # marked after the migration, in short transactions (store.backfill).
        "INSERT OR REPLACE INTO sync_meta (key, value)"
        " SELECT 'backfill_changes', '0 ' || coalesce(max(id), 0) FROM observations",
    ),
    (
        # The latest version of each folded twin, so that a fold can be recomputed (and a
        # twin that stopped being one split off) whatever order its members change in.
        "ALTER TABLE sync_aliases ADD COLUMN latest TEXT",
        # Rows pushed since the last pull: did their new version make them a twin of
        # another row? (Asked at the pull, when the index is up to date.)
        "CREATE TABLE sync_rejoin (obs_id INTEGER PRIMARY KEY)",
        # Rows folded into another after the fact: hidden (soft-deleted at hidden_at), not
        # removed, so that a later write of the application to one is not lost.
        "CREATE TABLE sync_folded (obs_id INTEGER PRIMARY KEY, sync_id TEXT NOT NULL UNIQUE,"
        " hidden_at TEXT NOT NULL)",
    ),
    (
        # Changes (to a new random value) with every change to the similarity index,
        # whoever makes it: a process that looked twins up before taking the write lock,
        # or holds prefix postings in memory, compares it to know whether another
        # connection changed the index since (store.index, store.postings). Random rather
        # than a count, so that a rolled-back change cannot meet a count seen before.
        "CREATE TABLE sync_index_gen (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL)",
        "INSERT INTO sync_index_gen (id, n) VALUES (1, 0)",
        *(
            f"CREATE TRIGGER sync_index_gen_{event.lower()} AFTER {event} ON sync_sets BEGIN"  # noqa: S608
            " UPDATE sync_index_gen SET n = random() WHERE id = 1; END"
            for event in ("INSERT", "UPDATE", "DELETE")
        ),
    ),
    (
        # Prefix postings as blobs per (bucket of 4,096 row ids, token) instead of a row
        # per (token, row id): short transactions touch far fewer pages (store.postings).
        # Each row's own prefix is kept beside its tokens, to take it out again.
        "ALTER TABLE sync_sets ADD COLUMN prefix BLOB",
        "DROP TABLE sync_prefix",
        "CREATE TABLE sync_postings (bucket INTEGER NOT NULL, token INTEGER NOT NULL,"
        " ids BLOB NOT NULL, PRIMARY KEY (bucket, token)) WITHOUT ROWID",
        "CREATE INDEX sync_postings_token ON sync_postings (token, bucket)",
        # The prefixes were only in sync_prefix: every row is indexed again, in short
        # transactions, by the next sync (as a first sync does), with a new token order.
        "DELETE FROM sync_sets",
        "DELETE FROM sync_vocab",
        "DELETE FROM sync_meta WHERE key IN ('index_threshold', 'index_order')",
        # (Not on a new install: its backfill_changes, not begun yet, marks them too.)
        "INSERT OR REPLACE INTO sync_meta (key, value) SELECT 'backfill_dirty', span"
        " FROM (SELECT '0 ' || coalesce(max(id), 0) AS span FROM observations) WHERE NOT"
        " EXISTS (SELECT 1 FROM sync_meta WHERE key = 'backfill_changes' AND value = span)",
    ),
    (
        # Postings are read by (bucket, token) key (store.posting_rows): the index by
        # token put every new posting at a random place of a second B-tree as well.
        "DROP INDEX IF EXISTS sync_postings_token",
    ),
    (
        # Dedup reads an empty topic_key as none (core.twins.topic_of, store.index.Text).
        "UPDATE sync_sets SET topic_key = NULL WHERE topic_key = ''",
    ),
)
