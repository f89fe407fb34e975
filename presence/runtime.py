"""This process's presence machinery: its store, the heartbeat and ghost sweep, and a clean stop.

The heartbeat runs inside each ASGI process, started by the first socket or presence read on the
event loop (no extra daemon). Under daphne a reactor shutdown trigger unregisters the process's
sockets at once on SIGTERM, because daphne cancels its consumers without a disconnect message.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone

from presence import services
from presence.protocol import PresenceServerFrame
from presence.circles import Circle, circle_of
from presence.selectors import Status, shown_entry
from presence.stores import PresenceStore, Transitions, get_store
from realtime import db, publish
from realtime.metrics import PRESENCE_TRANSITIONS

logger = logging.getLogger("dedwen.presence")

_CORRECTION_ROUNDS = 3
_SHUTDOWN_TIMEOUT = 5.0
# Presence frames wait at most this long to leave together: one layer call for those of the tick,
# and one write per socket for the frames it gets (docs/presence.md, "Cost").
ANNOUNCE_EVERY = 0.05

_task: asyncio.Task | None = None
_task_store: PresenceStore | None = None
_shutdown_hooked = False
_publishing: set[asyncio.Task] = set()  # announcements in flight: a clean stop waits for them


def running_store() -> PresenceStore:
    """Return this process's store, with its heartbeat running on the current event loop."""
    global _task, _task_store
    store = get_store()
    loop = asyncio.get_running_loop()
    if (store.maintenance_interval is not None or store.due_interval is not None) and (
        _task is None or _task.done() or _task.get_loop() is not loop or _task_store is not store
    ):
        if _task is not None and not _task.done() and _task.get_loop() is loop:
            _task.cancel()
        _task, _task_store = loop.create_task(_maintain_forever(store), name="presence-heartbeat"), store
    _hook_daphne_shutdown()
    return store


async def stop_heartbeat() -> None:
    """Stop this process's heartbeat (tests, shutdown)."""
    global _task, _task_store
    task, _task, _task_store = _task, None, None
    if task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop():
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass


def forget_heartbeat() -> None:
    """Drop this process's heartbeat task without awaiting it (tests: its event loop is going away)."""
    global _task, _task_store
    task, _task, _task_store = _task, None, None
    if task is not None and not task.done():
        try:
            task.cancel()
        except RuntimeError:  # its loop is already closed
            pass


async def publish_transitions(store: PresenceStore, changes: Transitions, *, circle: Circle | None = None) -> None:
    """Tell watchers about transitions; then re-read the store and correct what a later transition overtook.

    Two processes publish independently, so an older event may arrive after a newer one. Each
    publisher re-reads the status after publishing and, if it changed meanwhile, publishes the
    current one: the last event a watcher receives always matches the store (docs/presence.md).

    `circle` is what the socket that caused an online transition already read (its user's last_seen
    and contacts), so announcing it needs no database call. Events are sent from the event loop,
    each frame serialized once, after the database work they depend on has committed.

    It runs to the end even when its caller is cancelled (daphne cancels every consumer on SIGTERM):
    a database thread left publishing after the event loop stops would keep the process from exiting.
    """
    task = _publishing_task(_publish_transitions(store, changes, circle))
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise


def announce_soon(store: PresenceStore, changes: Transitions, *, circle: Circle | None = None) -> None:
    """Start `publish_transitions` without waiting for it (a socket's open: its frames do not wait for the tick)."""
    _publishing_task(_publish_transitions(store, changes, circle)).add_done_callback(_log_failure)


async def announced() -> None:
    """Wait until every announcement started on this event loop so far is sent (tests; a clean stop bounds its own wait)."""
    loop = asyncio.get_running_loop()
    while pending := {task for task in _publishing if task.get_loop() is loop}:
        await asyncio.wait(pending)


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("presence: status changes not announced", exc_info=task.exception())


def _publishing_task(coroutine) -> asyncio.Task:
    """Run an announcement as a task that a clean stop waits for (`_publishing`)."""
    task = asyncio.ensure_future(coroutine)
    _publishing.add(task)
    task.add_done_callback(_publishing.discard)
    return task


async def _publish_transitions(store: PresenceStore, changes: Transitions, circle: Circle | None) -> None:
    published = changes.statuses()
    try:
        sent: list[asyncio.Future | None] = []
        if changes.offline:
            at = timezone.now()
            watchers = await db.call(services.store_last_seen, user_ids=sorted(changes.offline), at=at)
            for user_id, watcher_ids in sorted(watchers.items()):
                sent.append(_send(user_id=user_id, status=Status.OFFLINE, last_seen=at, watcher_ids=watcher_ids))
        for user_id, status in sorted(published.items()):
            if status is not Status.OFFLINE:
                sent.append(await _announce(user_id=user_id, status=status, circle=circle))
        for _ in range(_CORRECTION_ROUNDS):
            await _all_sent(sent)  # re-read only once the frames have left
            current = await _current_statuses(store, published)
            published = {user_id: status for user_id, status in current.items() if status != published[user_id]}
            if not published:
                return
            sent = [await _announce(user_id=user_id, status=status) for user_id, status in sorted(published.items())]
        await _all_sent(sent)
    except db.Unavailable:
        logger.warning("presence: database unavailable; status changes of %d users not announced", len(published))


class _Reread:
    """The users whose status this event loop turn's correction rounds re-read, and the future of that one read."""

    __slots__ = ("user_ids", "done")

    def __init__(self) -> None:
        self.user_ids: set[int] = set()
        self.done: asyncio.Future = asyncio.get_running_loop().create_future()


_rereads: dict[tuple[asyncio.AbstractEventLoop, PresenceStore], _Reread] = {}


async def _current_statuses(store: PresenceStore, user_ids: Iterable[int]) -> dict[int, Status]:
    """Re-read users' statuses for a correction round: one store call for every round of this loop turn.

    The rounds woken by one tick's frames leaving run in one turn, so a tick costs one read (one
    HMGET with Redis), not one per announced user.
    """
    loop = asyncio.get_running_loop()
    key = (loop, store)
    reread = _rereads.get(key)
    if reread is None:
        reread = _rereads[key] = _Reread()
        loop.call_soon(lambda: _publishing_task(_read_statuses(key)))
    wanted = list(user_ids)
    reread.user_ids.update(wanted)
    found = await asyncio.shield(reread.done)  # a round cancelled meanwhile leaves the read to the others
    return {user_id: found[user_id] for user_id in wanted}


async def _read_statuses(key: tuple[asyncio.AbstractEventLoop, PresenceStore]) -> None:
    reread = _rereads.pop(key)
    try:
        reread.done.set_result(await key[1].statuses(user_ids=sorted(reread.user_ids)))
    except Exception as exc:  # noqa: BLE001 - each round that asked gets the failure its own read would have had
        reread.done.set_exception(exc)
        reread.done.exception()  # retrieved here too: no warning if every round that asked is gone


async def _announce(*, user_id: int, status: Status, circle: Circle | None = None) -> asyncio.Future | None:
    """Queue the user's status with their stored last_seen (read both from the database unless `circle` has them); see `_send`."""
    if circle is None or circle.user_id != user_id:
        circle = await db.call(circle_of, user_id=user_id)
    if not circle.visible:
        return None  # everyone sees an invisible user offline already: no change to tell
    return _send(user_id=user_id, status=status, last_seen=circle.last_seen, watcher_ids=circle.contacts)


def _send(*, user_id: int, status: Status, last_seen: datetime | None, watcher_ids: Iterable[int]) -> asyncio.Future:
    """Queue one `presence` frame to every watcher for this loop's tick; return the future set once the tick's frames are sent."""
    PRESENCE_TRANSITIONS.labels(status=str(status)).inc()
    loop = asyncio.get_running_loop()
    tick = _ticks.get(loop)
    if tick is None:
        tick = _ticks[loop] = _Tick()
        loop.call_later(ANNOUNCE_EVERY, lambda: _publishing_task(_send_tick(loop)))
    tick.frames.append(
        (sorted(watcher_ids), PresenceServerFrame.PRESENCE, shown_entry(user_id=user_id, status=status, last_seen=last_seen, visible=True))
    )
    return tick.sent


async def _all_sent(sent: list[asyncio.Future | None]) -> None:
    """Wait until the ticks of these frames are sent (without cancelling them if this wait is)."""
    futures = {future for future in sent if future is not None}
    if futures:
        await asyncio.wait(futures)


class _Tick:
    """The presence frames of one event loop waiting for the tick, and the future set once they are sent."""

    __slots__ = ("frames", "sent")

    def __init__(self) -> None:
        self.frames: list[tuple[list[int], str, dict]] = []
        self.sent: asyncio.Future = asyncio.get_running_loop().create_future()


_ticks: dict[asyncio.AbstractEventLoop, _Tick] = {}


async def _send_tick(loop: asyncio.AbstractEventLoop) -> None:
    """Send the frames of the loop's tick in order, in one layer call (which logs a failure), then wake their senders."""
    tick = _ticks.pop(loop)
    try:
        await publish.apublish_many(frames=tick.frames)
    except Exception:  # noqa: BLE001 - a bug here must not leave the senders waiting
        logger.exception("presence: %d frames not sent", len(tick.frames))
    finally:
        tick.sent.set_result(None)  # only set here, never cancelled: its waiters use asyncio.wait


async def shutdown() -> None:
    """Unregister this process's sockets at once and announce the changes (a clean stop).

    Its users keep their status for the grace, as after any close: they may come back on another
    process (a drain). Another live process ends the graces left running; only the last process to
    stop keeps turning due users offline until the grace is over, so that they are still announced
    and their last_seen stored. Either way the process exits within the drain's bound.
    """
    store = get_store()
    await stop_heartbeat()
    try:
        changes = await asyncio.wait_for(store.shutdown(), _SHUTDOWN_TIMEOUT)
        if changes:
            await asyncio.wait_for(publish_transitions(store, changes), _SHUTDOWN_TIMEOUT)
        if not await store.others_alive():
            await asyncio.wait_for(_finish_graces(store), store.grace + _SHUTDOWN_TIMEOUT)
        # Daphne stops the loop once its cancelled consumers end, without waiting for what they shielded.
        if _publishing:
            await asyncio.wait(set(_publishing), timeout=_SHUTDOWN_TIMEOUT)
    except TimeoutError:
        logger.warning("presence: clean stop timed out; other processes expire this one's sockets within the TTL")
    logger.info("presence: this process's sockets are unregistered")


async def _finish_graces(store: PresenceStore) -> None:
    """Announce the users whose grace is running, as each one ends (none left: return at once)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + store.grace + 1.0
    while store.due_interval is not None and await store.waiting() and loop.time() < deadline:
        await asyncio.sleep(store.due_interval)
        offline = await store.due()
        if offline:
            await publish_transitions(store, Transitions(offline=offline))


async def _maintain_forever(store: PresenceStore) -> None:
    """Every TTL/3: extend this process's lease (or resync it), sweep dead processes, announce changes.

    With a grace it also ticks every `due_interval` (at most 0.5 s): one store call turns offline the
    users whose grace is over, so `offline` is announced within the grace plus that tick.
    """
    loop = asyncio.get_running_loop()
    interval, due_every = store.maintenance_interval, store.due_interval
    next_maintenance = loop.time()
    while True:
        try:
            if interval is not None and loop.time() >= next_maintenance:
                next_maintenance = loop.time() + interval
                changes = await store.maintain()
                if changes:
                    await publish_transitions(store, changes)
            if due_every is not None:
                offline = await store.due()
                if offline:
                    await publish_transitions(store, Transitions(offline=offline))
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the heartbeat must outlive any one failed tick
            logger.exception("presence heartbeat tick failed")
        await asyncio.sleep(min(every for every in (interval, due_every) if every is not None))


def _hook_daphne_shutdown() -> None:
    """Under daphne (a running Twisted reactor) run `shutdown` before the reactor stops, once."""
    global _shutdown_hooked
    reactor = sys.modules.get("twisted.internet.reactor")
    if _shutdown_hooked or reactor is None or not getattr(reactor, "running", False):
        return
    from twisted.internet import defer

    def before_shutdown():
        return defer.Deferred.fromFuture(asyncio.ensure_future(shutdown()))

    reactor.addSystemEventTrigger("before", "shutdown", before_shutdown)
    _shutdown_hooked = True
