"""Written-out statements for the hot paths: built once per database, values converted as the ORM would.

Compiling a query with the ORM costs many times running it (docs/presence.md, "Cost"). The reads and
writes that run on every socket's authentication or presence transition are therefore written out,
and this is the one place that turns their rows into the values the ORM would have returned
(`RawRead`) and their parameters into the values the ORM would have sent (`RawWrite`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model

Converters = list[tuple[int, Callable[[Any], Any]]]

# How many distinct values of one column a RawRead with `convert_once` keeps converted.
CONVERTED_KEPT = 8192


class _Statement:
    """A written-out statement: built once per database alias, its values tied to model fields, routed by a model.

    `sql(connection)` returns the statement for that database (quote names with its `ops`).
    `fields[i]` is the model field of the statement's i-th value (a column read, a parameter
    written), or None for a value that needs no conversion (an integer id). `model` routes it, as
    the ORM would.
    """

    def __init__(
        self, *, sql: Callable[[BaseDatabaseWrapper], str], fields: Sequence[Field | None], model: type[Model]
    ) -> None:
        self._build = sql
        self._fields = tuple(fields)
        self._model = model
        self._sql: dict[str, str] = {}

    def _statement(self, connection: BaseDatabaseWrapper) -> str:
        sql = self._sql.get(connection.alias)
        if sql is None:
            sql = self._sql[connection.alias] = self._build(connection)
        return sql


class RawRead(_Statement):
    """A written-out SELECT whose columns come back as the ORM returns them for the given fields (see _Statement).

    `convert_once`: the columns' values repeat across rows and calls (every contact's last_seen, in
    every snapshot that lists them), so each distinct value is converted once and the last
    CONVERTED_KEPT of each column are kept. Only for immutable values (datetimes, numbers, text).
    """

    def __init__(
        self,
        *,
        sql: Callable[[BaseDatabaseWrapper], str],
        fields: Sequence[Field | None],
        model: type[Model],
        convert_once: bool = False,
    ) -> None:
        super().__init__(sql=sql, fields=fields, model=model)
        self._convert_once = convert_once
        self._converters: dict[str, Converters] = {}

    def db(self) -> str:
        """Return the alias of the database the read runs on."""
        return router.db_for_read(self._model)

    def rows(self, params: Sequence[Any] | dict[str, Any], *, using: str | None = None) -> list[tuple[Any, ...]]:
        """Run the statement (on `using`, or where the model's reads go); return its rows, converted."""
        connection = connections[using or self.db()]
        sql, converters = self._prepare(connection)
        with connection.cursor() as cursor:
            if self._convert_once and connection.vendor == "postgresql":
                _keep_loaded_timestamps(cursor.cursor)
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if converters:
            rows = [_convert(row, converters) for row in rows]
        return rows

    def _prepare(self, connection: BaseDatabaseWrapper) -> tuple[str, Converters]:
        converters = self._converters.get(connection.alias)
        if converters is None:
            converters = []
            for index, field in enumerate(self._fields):
                if field is None:
                    continue
                column = field.get_col(field.model._meta.db_table)  # what the ORM's compiler asks, too
                found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
                if found:
                    # The converters read the backend's settings (USE_TZ, its time zone) through the
                    # connection, never its state: the first thread's connection serves every thread.
                    convert = functools.partial(_run_converters, tuple(found), column, connection)
                    if self._convert_once:
                        convert = functools.lru_cache(maxsize=CONVERTED_KEPT)(convert)
                    converters.append((index, convert))
            self._converters[connection.alias] = converters
        return self._statement(connection), converters


class RawWrite(_Statement):
    """A written-out INSERT, UPDATE or DELETE whose parameters are adapted as the ORM adapts them (see _Statement).

    A parameter's field adapts it with `get_db_prep_save` (a datetime for SQLite, say).
    """

    def run(self, values: Sequence[Any], *, using: str | None = None) -> int:
        """Run the statement (on `using`, or where the model's writes go); return how many rows it changed."""
        connection = connections[using or router.db_for_write(self._model)]
        params = [value if field is None else field.get_db_prep_save(value, connection) for field, value in zip(self._fields, values, strict=True)]
        with connection.cursor() as cursor:
            cursor.execute(self._statement(connection), params)
            return cursor.rowcount


def padded(ids: list[int]) -> list[int]:
    """Return ids padded with the last one to a power of two: an IN list of few distinct lengths (PostgreSQL prepares each after a few runs)."""
    return ids + ids[-1:] * ((1 << (len(ids) - 1).bit_length()) - len(ids))


def _run_converters(found: tuple[Callable[..., Any], ...], column: Any, connection: BaseDatabaseWrapper, value: Any) -> Any:
    for convert in found:
        value = convert(value, column, connection)
    return value


def _convert(row: tuple[Any, ...], converters: Converters) -> tuple[Any, ...]:
    values = list(row)
    for index, convert in converters:
        values[index] = convert(values[index])
    return tuple(values)


def _keep_loaded_timestamps(cursor: Any) -> None:
    """Have a psycopg cursor load each distinct timestamptz text once (a `convert_once` read on PostgreSQL).

    PostgreSQL hands timestamps back as text, and Django's loader for them (a Python subclass of
    psycopg's, which puts them in the connection's time zone) is not psycopg's C one: parsing a
    snapshot's 1,000 last_seen values was a third of the open path's CPU with PostgreSQL. The
    loader Django registered for this cursor is wrapped, not replaced: what it returns is kept by
    the text it came from. psycopg's public adapters API (`adapters.get_loader`, `register_loader`
    on the cursor, which copies the connection's map for that cursor only).
    """
    from psycopg.postgres import types
    from psycopg.pq import Format

    oid = types["timestamptz"].oid
    loader = cursor.adapters.get_loader(oid, Format.TEXT)
    if loader is not None and not getattr(loader, "keeps_loaded", False):
        cursor.adapters.register_loader(oid, _keeping_loader(loader))


@functools.lru_cache(maxsize=16)
def _keeping_loader(loader: type) -> type:
    """Return a subclass of a psycopg loader class that keeps the last CONVERTED_KEPT values it loaded, by their text."""
    kept: dict[bytes, Any] = {}

    class KeepingLoader(loader):
        keeps_loaded = True

        def load(self, data):
            key = bytes(data)
            value = kept.get(key)
            if value is None:
                if len(kept) >= CONVERTED_KEPT:
                    kept.clear()
                value = kept[key] = super().load(data)
            return value

    return KeepingLoader
