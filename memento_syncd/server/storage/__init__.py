"""Server storage: one interface, an embedded SQLite implementation."""
