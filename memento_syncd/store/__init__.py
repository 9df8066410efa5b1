"""The device's SQLite database: the application's table and memento-syncd's ``sync_`` tables."""
