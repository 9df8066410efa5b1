"""Schema of the server's SQLite database, as numbered migrations (``PRAGMA user_version``)."""

from __future__ import annotations

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE teams (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL)""",
        """CREATE TABLE members (
            id INTEGER PRIMARY KEY,
            team_id INTEGER NOT NULL REFERENCES teams(id),
            name TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (team_id, name))""",
        """CREATE TABLE tokens (
            token_id TEXT PRIMARY KEY,
            member_id INTEGER NOT NULL REFERENCES members(id),
            secret_hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            revoked_at TEXT)""",
        """CREATE TABLE observations (
            team_id INTEGER NOT NULL REFERENCES teams(id),
            sync_id TEXT NOT NULL,
            project TEXT NOT NULL,
            type TEXT NOT NULL,
            title TEXT NOT NULL,
            content TEXT NOT NULL,
            topic_key TEXT,
            scope TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            deleted_at TEXT,
            version INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            owner_member_id INTEGER NOT NULL REFERENCES members(id),
            writer TEXT NOT NULL,
            based_on INTEGER)""",
        "CREATE UNIQUE INDEX observations_identity ON observations (team_id, sync_id)",
        "CREATE INDEX observations_feed ON observations (team_id, project, seq)",
    ),
    (
        # Whether the observation was ever shared (scope project): once its owner makes it
        # personal, teammates' pulls get it as a withdrawal, without its text (sqlite.py).
        # Rows personal before this migration cannot tell; those shared now can.
        "ALTER TABLE observations ADD COLUMN shared INTEGER NOT NULL DEFAULT 0",
        "UPDATE observations SET shared = 1 WHERE scope = 'project'",
    ),
)
