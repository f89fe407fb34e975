"""Keep most of SQLite's checkpoints off the commits that answer clients: a thread of the serving process runs them.

In WAL mode SQLite copies its log back into the database file (a checkpoint) inside the commit that
takes the log past 1,000 pages, and that commit waits for the checkpoint's syncs. On the embedded
configuration about one message ack in a hundred paid it: 4 to 6 ms against 1 ms
(docs/performance.md). A serving process checkpoints from a thread of its own instead, every
DEDWEN_SQLITE_CHECKPOINT_EVERY seconds. The thread's checkpoints are PASSIVE: they never wait for a
reader or a writer and never block one, and SQLite releases the GIL while it syncs.

Only a commit can start the log over, once everything in it is copied. Under writes without a
pause that moment never comes, and a log checkpointed only from the side grows without bound (800 MB
in 3 s, measured). So the serving connections keep a commit checkpoint as a backstop, every
COMMIT_CHECKPOINT_PAGES pages instead of 1,000. By then the thread has copied nearly everything,
so the commit that runs it mostly syncs. Only a process that runs the thread moves the backstop.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from django.conf import settings
from django.db import connections
from django.db.backends.signals import connection_created

logger = logging.getLogger("dedwen.sqlite")

# The log's size, in pages, at which a serving connection's commit checkpoints and starts the log
# over: it bounds the log at about 64 MB (4 KiB pages) under writes without a pause.
COMMIT_CHECKPOINT_PAGES = 16000


class Checkpointer:
    """A daemon thread that checkpoints one SQLite database's log every `every` seconds."""

    def __init__(self, *, path: str, every: float) -> None:
        self.path = path
        self.every = every
        self.passes = 0  # checkpoints run (tests wait on it)
        self._stop = threading.Event()
        self._ran = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoints", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread after its current pass."""
        self._stop.set()
        self._thread.join()

    def wait_for_pass(self, *, after: int, timeout: float) -> bool:
        """Wait until more than `after` passes have run; return whether they did within `timeout` seconds."""
        with self._ran:
            return self._ran.wait_for(lambda: self.passes > after, timeout)

    def _run(self) -> None:
        connection = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        try:
            while not self._stop.wait(self.every):
                try:
                    checkpoint(connection)
                except sqlite3.Error as exc:  # the next pass retries; the log only grows meanwhile
                    logger.warning("SQLite checkpoint failed: %s", exc)
                with self._ran:
                    self.passes += 1
                    self._ran.notify_all()
        finally:
            connection.close()


def checkpoint(connection: sqlite3.Connection) -> tuple[int, int, int]:
    """Copy what it can of the log into the database without waiting; return (busy, log pages, pages copied)."""
    busy, log, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return busy, log, copied


_started: dict[str, Checkpointer] = {}
_lock = threading.Lock()


def checkpoint_in_background(*, alias: str = "default") -> Checkpointer | None:
    """Run this process's checkpoints of a SQLite database in WAL mode from a thread; None when there is nothing to do.

    Connections of the alias opened from now on in this process checkpoint on commit only as the
    backstop (`serve_connection`).
    """
    every = settings.DEDWEN_SQLITE_CHECKPOINT_EVERY
    connection = connections[alias]
    path = connection.settings_dict["NAME"]
    if connection.vendor != "sqlite" or not every or connection.is_in_memory_db():
        return None
    with _lock:
        if alias in _started:
            return _started[alias]
        if not _in_wal_mode(str(path)):
            return None
        connection_created.connect(_serving(alias), weak=False, dispatch_uid=f"dedwen.sqlite.{alias}")
        checkpointer = _started[alias] = Checkpointer(path=str(path), every=every)
    checkpointer.start()
    return checkpointer


def _in_wal_mode(path: str) -> bool:
    """Tell whether the database file is in WAL mode (set by the connections' init_command, kept in the file)."""
    try:
        probe = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=0, isolation_level=None)
    except sqlite3.Error:  # no such file yet: nothing to checkpoint
        return False
    try:
        return probe.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
    finally:
        probe.close()


def serve_connection(raw: sqlite3.Connection) -> None:
    """Leave a serving connection's checkpoints to the thread, but for the backstop."""
    raw.execute(f"PRAGMA wal_autocheckpoint={COMMIT_CHECKPOINT_PAGES}")


def _serving(alias: str):
    """Return the connection_created receiver that applies `serve_connection` to the alias's new connections."""

    def receiver(sender, connection, **kwargs) -> None:
        if connection.alias == alias:
            serve_connection(connection.connection)

    return receiver
