"""Readiness: a real round trip to each backend, bounded; apps add their own checks (presence: its store).

`readiness()` runs every registered check at once, each bounded by CHECK_TIMEOUT seconds, and
reports each as "ok" or what failed. The kernel registers the database and the channel layer; an
app registers more from its `AppConfig.ready()` with `register(name, check)`, the way socket apps
register with realtime.registry, so the kernel imports no app.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from channels.layers import get_channel_layer
from django.db import connection

from realtime import db, drain

CHECK_TIMEOUT = 1.0  # seconds each check may take

Check = Callable[[], Awaitable[None]]  # returns when the backend answered; raises otherwise

_checks: dict[str, Check] = {}


def register(name: str, check: Check) -> None:
    """Add (or replace) a named readiness check."""
    _checks[name] = check


def _select_one() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


async def check_database() -> None:
    """Run SELECT 1 in the database thread."""
    await db.call(_select_one)


async def check_channel_layer() -> None:
    """Send a message to a fresh channel of this process and receive it back."""
    layer = get_channel_layer()
    channel = await layer.new_channel("readyz.")
    try:
        await layer.send(channel, {"type": "readyz.ping"})
        await layer.receive(channel)
    finally:
        # A cancelled receive is how a channel is given up (pub/sub: unsubscribed; in-process: forgotten).
        pending = asyncio.ensure_future(layer.receive(channel))
        await asyncio.sleep(0)
        pending.cancel()
        with contextlib.suppress(BaseException):
            await pending


async def _run(check: Check) -> str:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT)
    except TimeoutError:
        return f"timeout: no answer within {CHECK_TIMEOUT:g} s"
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        return f"error: {type(exc).__name__}"
    return "ok"


async def readiness() -> tuple[int, dict]:
    """Return the /readyz status code and body."""
    if drain.draining():
        return 503, {"status": "draining", "checks": {}}
    names = sorted(_checks)
    results = await asyncio.gather(*(_run(_checks[name]) for name in names))
    checks = dict(zip(names, results))
    if all(result == "ok" for result in results):
        return 200, {"status": "ready", "checks": checks}
    return 503, {"status": "unavailable", "checks": checks}


register("database", check_database)
register("channel_layer", check_channel_layer)
