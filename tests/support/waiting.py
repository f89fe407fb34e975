"""The one bounded wait: poll a condition until it holds, fail after a deadline (never a sleep that hopes).

    until(lambda: server.is_up(), what="the server")                 # sync code
    changes = await auntil(store.maintain)                           # async: the condition may be awaitable
    await auntil(lambda: time.time() > expiry, timeout=5)            # ... or plain

Both return the condition's first truthy value.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

WAIT = 5.0  # seconds: the default bound
STEP = 0.05  # seconds between two looks


def until(condition: Callable[[], Any], *, timeout: float = WAIT, step: float = STEP, what: str = "condition") -> Any:
    """Call `condition()` until it returns something truthy and return that; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"{what} not met within {timeout}s"
        time.sleep(step)
    return result


async def auntil(condition: Callable[[], Any], *, timeout: float = WAIT, step: float = STEP, what: str = "condition") -> Any:
    """Call (and await, when it returns an awaitable) `condition()` until it is truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        assert time.monotonic() < deadline, f"{what} not met within {timeout}s"
        await asyncio.sleep(step)
