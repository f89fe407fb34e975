"""Draining: on SIGTERM a process stops taking sockets and hands its clients to the others, a few at a time.

From the moment `start()` runs, `/readyz` answers 503 and a new socket is answered `goaway` and a
4001 close. The open sockets are shuffled and spread evenly over DEDWEN_DRAIN_SECONDS: at its turn
each gets `goaway{"reason":"draining","reconnect_after_ms"}` and a 4001 close. Its
`reconnect_after_ms` is drawn between 0 and RECONNECT_SPREAD_MS (at most DEDWEN_DRAIN_SECONDS ×
1000), so the reconnects arrive spread over the window and each user is away only briefly (well
within the presence grace). `run()` does that and returns once every socket has ended, or at the deadline.

The sockets register here while they are open (`track`/`untrack`); realtime.server starts the drain
on SIGTERM and stops the reactor (daphne's and presence's shutdown triggers) only afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Protocol

from django.conf import settings

logger = logging.getLogger("dedwen.realtime.drain")

RECONNECT_SPREAD_MS = 1000  # the largest reconnect_after_ms a draining socket gets (capped by the window)
DISCONNECT_RECONNECT_MS = 1000  # reconnect_after_ms of a socket an operator disconnected
EXIT_MARGIN_SECONDS = 4.0  # the drain gives up this long after its window (the contract allows 5 s)


class Drainable(Protocol):
    async def goaway(self, *, reason: str, reconnect_after_ms: int) -> None: ...


_draining = False
_sockets: set[Drainable] = set()
_emptied: asyncio.Event | None = None
_goaways: set[asyncio.Task] = set()  # held until done: the loop keeps only weak references to tasks


def draining() -> bool:
    """Return True once this process has started draining."""
    return _draining


def track(socket: Drainable) -> None:
    """Count an open socket (accepted, authenticated or not)."""
    _sockets.add(socket)


def untrack(socket: Drainable) -> None:
    """Forget a socket that ended."""
    _sockets.discard(socket)
    if not _sockets and _emptied is not None:
        _emptied.set()


def open_sockets() -> int:
    """Return how many sockets this process holds."""
    return len(_sockets)


def reconnect_after_ms() -> int:
    """Return a draining socket's delay before it reconnects: random, between 0 and the spread."""
    spread = min(RECONNECT_SPREAD_MS, int(settings.DEDWEN_DRAIN_SECONDS * 1000))
    return random.randint(0, max(0, spread))


async def start(*, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
    """Refuse new sockets, then send each open socket `goaway` and close it, spread over the window."""
    global _draining, _emptied
    if _draining:
        return
    _draining = True
    _emptied = asyncio.Event()
    if not _sockets:
        _emptied.set()
    window = float(settings.DEDWEN_DRAIN_SECONDS)
    order = list(_sockets)
    random.shuffle(order)
    logger.info("draining: %d sockets over %.1f s", len(order), window)
    step = window / len(order) if order else 0.0
    loop = asyncio.get_running_loop()
    begun = loop.time()
    for index, socket in enumerate(order):
        delay = begun + index * step - loop.time()
        if delay > 0:
            await sleep(delay)
        if socket in _sockets:
            task = loop.create_task(socket.goaway(reason="draining", reconnect_after_ms=reconnect_after_ms()))
            _goaways.add(task)
            task.add_done_callback(_goaways.discard)


async def run() -> bool:
    """Drain, then wait until every socket has ended, at most the window plus a margin; return True when they all did."""
    try:
        await asyncio.wait_for(_drain_and_wait(), settings.DEDWEN_DRAIN_SECONDS + EXIT_MARGIN_SECONDS)
    except TimeoutError:
        logger.warning("draining: %d sockets still open at the deadline", len(_sockets))
        return False
    logger.info("draining: every socket is closed")
    return True


async def _drain_and_wait() -> None:
    await start()
    assert _emptied is not None
    await _emptied.wait()


def reset() -> None:
    """Forget a drain (tests)."""
    global _draining, _emptied
    _draining, _emptied = False, None
