"""watchdog on the home directory: file events become hints on the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

# "attrib": a chmod, which decides whether the token file may be used (ssh's rule).
_WRITES = frozenset({"created", "modified", "moved", "deleted", "closed", "attrib"})


class _Handler(FileSystemEventHandler):
    def __init__(self, names: dict[str, str], notify: Callable[[str], None]) -> None:
        self._names = names
        self._notify = notify

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in _WRITES:  # opening or reading a file changes nothing
            return
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            path = raw.decode() if isinstance(raw, bytes) else raw
            kind = self._names.get(Path(path).name) if path else None
            if kind is not None:
                self._notify(kind)


class HomeWatcher:
    """Watches the database (and its WAL) and config.json; calls ``on_event(kind)`` in the loop.

    ``kind`` is ``"db"``, ``"config"`` or ``"token"``. Events are only hints: the daemon confirms a
    database change with ``PRAGMA data_version`` and keeps a slow fallback check,
    because some platforms deliver late or not at all.
    """

    def __init__(
        self,
        home: Path,
        db: Path,
        config: Path,
        on_event: Callable[[str], None],
        token: Path | None = None,
    ) -> None:
        self._home = home
        self._on_event = on_event
        self._names = {
            db.name: "db",
            db.name + "-wal": "db",
            db.name + "-journal": "db",
            config.name: "config",
        }
        if token is not None:
            self._names[token.name] = "token"
        self._observer: Observer | None = None  # type: ignore[valid-type]

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start watchdog's thread; events cross to ``loop`` with call_soon_threadsafe."""

        def notify(kind: str) -> None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(self._on_event, kind)

        observer = Observer()
        observer.schedule(_Handler(self._names, notify), str(self._home), recursive=False)
        observer.daemon = True
        observer.start()
        self._observer = observer

    def stop(self) -> None:
        """Stop and join watchdog's thread."""
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None
