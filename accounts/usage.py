"""When each device was last used: stamped at most once a minute, written in bulk off the client's path.

`authenticate_access_token` stamps a device whose `last_used_at` is older than a minute. Code that
serves an event loop (realtime.publish.serving_loop: a socket's database trip, an ASGI request's
thread) hands the stamp to that loop, which writes every stamp handed over within FLUSH_AFTER
seconds in one UPDATE, through the database thread. One UPDATE in each socket's authentication cost
4 % of the embedded connect rate (docs/performance.md, tenth pass). Elsewhere (management commands,
sync tests) the stamp is written at once.

A batch is written with its latest stamp, so a device's `last_used_at` may read up to FLUSH_AFTER
seconds late, and a process that dies loses at most its last FLUSH_AFTER seconds of stamps, of a
field kept to the minute.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import weakref
from datetime import datetime

from accounts.models import Device
from realtime import db
from realtime.publish import serving_loop

logger = logging.getLogger("dedwen.accounts.usage")

FLUSH_AFTER = 1.0  # seconds a stamp waits to be written with the others
WRITE_CHUNK = 500  # devices named by one UPDATE, at most


class _Stamps:
    """The devices stamped on one event loop since its last write (each one's latest use), and whether a write is due."""

    __slots__ = ("devices", "due", "lock")

    def __init__(self) -> None:
        self.devices: dict[int, datetime] = {}
        self.due = False
        self.lock = threading.Lock()  # stamps come from the database thread, the write runs on the loop


_stamps: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Stamps] = weakref.WeakKeyDictionary()
_stamps_lock = threading.Lock()


def stamp(*, device_id: int, at: datetime) -> None:
    """Record that a device was used at `at`: written within FLUSH_AFTER seconds by the loop this code serves, or now."""
    loop = serving_loop.get()
    if loop is None or not loop.is_running():
        write(devices={device_id: at})
        return
    stamps = _stamps_of(loop)
    with stamps.lock:
        stamps.devices[device_id] = at
        if stamps.due:
            return
        stamps.due = True
    try:
        # In a context of its own: the caller's (a database thread's) would make asgiref refuse the write's hop.
        loop.call_soon_threadsafe(loop.call_later, FLUSH_AFTER, _start_write, stamps, context=contextvars.Context())
    except RuntimeError:  # the loop closed since: write from here
        write(devices=_take(stamps))


def write(*, devices: dict[int, datetime]) -> None:
    """Set the devices' `last_used_at` to the latest of their stamps, in one UPDATE per WRITE_CHUNK devices."""
    if not devices:
        return
    at, ids = max(devices.values()), sorted(devices)
    for start in range(0, len(ids), WRITE_CHUNK):
        Device.objects.filter(pk__in=ids[start : start + WRITE_CHUNK]).update(last_used_at=at)


async def flush() -> None:
    """Write the stamps handed to the running loop so far, now (tests, bench.parts)."""
    stamps = _stamps.get(asyncio.get_running_loop())
    if stamps is not None:
        await _write_taken(_take(stamps))


def _stamps_of(loop: asyncio.AbstractEventLoop) -> _Stamps:
    stamps = _stamps.get(loop)
    if stamps is None:
        with _stamps_lock:
            stamps = _stamps.setdefault(loop, _Stamps())
    return stamps


def _take(stamps: _Stamps) -> dict[int, datetime]:
    with stamps.lock:
        devices, stamps.devices, stamps.due = stamps.devices, {}, False
    return devices


def _start_write(stamps: _Stamps) -> None:
    asyncio.get_running_loop().create_task(_write_taken(_take(stamps)), name="device-stamps")


async def _write_taken(devices: dict[int, datetime]) -> None:
    if not devices:
        return
    try:
        await db.call(write, devices=devices)
    except Exception as exc:  # noqa: BLE001 - a lost stamp costs a minute of `last_used_at`, never a socket
        logger.warning("last use of %d devices not written: %s", len(devices), type(exc).__name__)
