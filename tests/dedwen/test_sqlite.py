"""The serving process checkpoints SQLite's log from a thread, so that commits rarely wait for a checkpoint."""

from __future__ import annotations

import sqlite3

import pytest
from django.db import connection
from django.test import override_settings

from dedwen import sqlite as checkpoints

ROWS = 2000  # about 2 MB of log: far past SQLite's own 1,000-page checkpoint


def wal_database(path, *, rows: int = ROWS) -> sqlite3.Connection:
    """Return a writer of a new WAL database whose commits do not checkpoint, with `rows` kilobyte rows committed."""
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE note (body TEXT)")
    writer.executemany("INSERT INTO note VALUES (?)", [("x" * 1024,) for _ in range(rows)])
    return writer


def test_the_thread_copies_the_log_into_the_database_file(tmp_path):
    path = tmp_path / "db.sqlite3"
    writer = wal_database(path)
    assert path.stat().st_size < 100_000  # everything committed is still in the log

    checkpointer = checkpoints.Checkpointer(path=str(path), every=0.01)
    checkpointer.start()
    try:
        assert checkpointer.wait_for_pass(after=0, timeout=10)
    finally:
        checkpointer.stop()

    assert path.stat().st_size > ROWS * 1024
    assert writer.execute("SELECT count(*) FROM note").fetchone() == (ROWS,)


def test_a_checkpoint_never_waits_for_a_reader_in_the_middle_of_a_read(tmp_path):
    path = tmp_path / "db.sqlite3"
    writer = wal_database(path, rows=10)
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM note").fetchone()  # holds a snapshot of the log
    writer.executemany("INSERT INTO note VALUES (?)", [("y",) for _ in range(10)])

    busy, log, copied = checkpoints.checkpoint(sqlite3.connect(path, timeout=0, isolation_level=None))

    assert (busy, copied < log) == (0, True)  # returned at once, leaving what the reader still needs
    reader.execute("COMMIT")


def test_the_log_stays_bounded_under_writes_without_a_pause(tmp_path):
    # Only a commit can start the log over: checkpointed from the side alone, a log that is written
    # without a pause never restarts and grows with every write.
    path = tmp_path / "db.sqlite3"
    writer = wal_database(path, rows=0)
    checkpoints.serve_connection(writer)
    checkpointer = checkpoints.Checkpointer(path=str(path), every=0.01)
    checkpointer.start()
    log = path.with_name("db.sqlite3-wal")
    largest = 0
    try:
        for _ in range(3 * checkpoints.COMMIT_CHECKPOINT_PAGES // 25):  # three backstops' worth of pages
            writer.execute("BEGIN IMMEDIATE")
            writer.executemany("INSERT INTO note VALUES (?)", [("z" * 3500,) for _ in range(25)])  # about a page each
            writer.execute("COMMIT")
            largest = max(largest, log.stat().st_size)
    finally:
        checkpointer.stop()

    page_size = writer.execute("PRAGMA page_size").fetchone()[0]
    assert largest < 1.2 * checkpoints.COMMIT_CHECKPOINT_PAGES * page_size


def test_a_missing_database_file_is_not_created_and_not_checkpointed(tmp_path):
    path = tmp_path / "absent.sqlite3"

    assert checkpoints._in_wal_mode(str(path)) is False
    assert not path.exists()


@override_settings(DEDWEN_SQLITE_CHECKPOINT_EVERY=0)
def test_no_thread_runs_when_switched_off():
    assert checkpoints.checkpoint_in_background() is None


@pytest.mark.django_db
def test_the_serving_process_connections_leave_checkpoints_to_the_thread_but_for_the_backstop():
    if connection.vendor != "sqlite":
        pytest.skip("the embedded configuration's database (SQLite)")
    connection.ensure_connection()
    raw = connection.connection
    try:
        checkpoints._serving("default")(sender=type(connection), connection=connection)
        assert raw.execute("PRAGMA wal_autocheckpoint").fetchone() == (checkpoints.COMMIT_CHECKPOINT_PAGES,)
    finally:
        raw.execute("PRAGMA wal_autocheckpoint=1000")


@pytest.mark.django_db
def test_each_embedded_commit_is_on_disk_before_it_returns():
    """An acknowledged message survives a power loss: SQLite syncs its log at every commit (synchronous=FULL)."""
    if connection.vendor != "sqlite":
        pytest.skip("the embedded configuration's database (SQLite)")
    connection.ensure_connection()
    assert connection.connection.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL


@pytest.mark.parametrize(("durable", "synchronous"), [(None, "FULL"), ("1", "FULL"), ("0", "NORMAL")])
def test_an_operator_may_trade_durability_for_fewer_syncs(monkeypatch, durable, synchronous):
    from tests.accounts.test_settings import load_settings

    monkeypatch.delenv("DATABASE_URL", raising=False)
    env = {} if durable is None else {"DEDWEN_SQLITE_DURABLE": durable}
    options = load_settings(monkeypatch, **env)["DATABASES"]["default"]["OPTIONS"]
    assert f"PRAGMA synchronous={synchronous};" in options["init_command"]
