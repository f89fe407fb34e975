"""The one road from async code to the ORM: a thread hop that manages connections and outages."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from channels.db import database_sync_to_async
from django.db import InterfaceError, OperationalError

from realtime.publish import serving_loop

P = ParamSpec("P")
T = TypeVar("T")


class Unavailable(Exception):
    """The database could not be reached; nothing was stored."""


async def call(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a sync ORM function in the database thread; raise Unavailable when the database is down."""
    serving_loop.set(asyncio.get_running_loop())  # what it publishes is handed back to this loop
    try:
        return await _in_db_thread(functools.partial(fn, *args, **kwargs))
    except (OperationalError, InterfaceError) as exc:
        raise Unavailable(type(exc).__name__) from exc


@database_sync_to_async
def _in_db_thread(job: Callable[[], T]) -> T:
    return job()
