"""`typing` without the database in the steady state: participants are cached for a few seconds."""

from __future__ import annotations

import asyncio
import threading

import pytest
from asgiref.sync import sync_to_async

from messaging import realtime, selectors, services
from messaging.protocol import MessagingClientFrame, MessagingServerFrame
from realtime.protocol import ErrorCode, ServerFrame, user_group
from tests.support.realtime import refusal_of

pytestmark = pytest.mark.django_db(transaction=True)

TYPING = realtime.SOCKET_APP.handlers[MessagingClientFrame.TYPING]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    """Give the typing handler a fresh participant cache on a hand-moved clock, never read again ahead of expiry."""
    clock = Clock()
    cache = realtime.ParticipantCache(ttl=5.0, size=100, clock=clock, refresh=(1.0, 1.0))
    monkeypatch.setattr(realtime, "participants", cache)
    return clock


@pytest.fixture
def refreshed_at_60_percent(monkeypatch):
    """Give the typing handler a participant cache on a hand-moved clock that reads a list in use again at 3 s of 5."""
    clock = Clock()
    cache = realtime.ParticipantCache(ttl=5.0, size=100, clock=clock, draw=lambda low, high: low)
    monkeypatch.setattr(realtime, "participants", cache)
    return clock


@pytest.fixture
def lookups(monkeypatch):
    """Count the participant reads that reach the database."""
    calls: list[int] = []
    real = selectors.conversation_participant_ids

    def counted(*, user, conversation_id):
        calls.append(conversation_id)
        return real(user=user, conversation_id=conversation_id)

    monkeypatch.setattr(selectors, "conversation_participant_ids", counted)
    return calls


@pytest.fixture
def trio(alice, bob, carol):
    """A group of alice, bob and carol."""
    return services.create_conversation(creator=alice, participant_ids=[bob.pk, carol.pk], title="trio").conversation


def typing_frame(conversation, user) -> dict:
    return {"type": MessagingServerFrame.TYPING, "data": {"conversation_id": conversation.pk, "user_id": user.pk}}


async def test_typing_again_within_the_ttl_reads_the_participants_once(alice, bob, alice_bob, socket_of, broadcasts, clock, lookups):
    socket = socket_of(alice)
    with broadcasts() as sent:
        for _ in range(3):
            await TYPING(socket.ctx, {"conversation_id": alice_bob.pk}, None)
            clock.now += 1
    assert sent.frames(user_group(bob.pk)) == [typing_frame(alice_bob, alice)] * 3
    assert sent.groups() == [user_group(bob.pk)] * 3
    assert lookups == [alice_bob.pk]


async def test_a_non_participant_is_refused_even_when_the_conversation_is_cached(alice, carol, alice_bob, socket_of, broadcasts, clock, lookups):
    await TYPING(socket_of(alice).ctx, {"conversation_id": alice_bob.pk}, None)
    with broadcasts() as sent:
        refusal = await refusal_of(TYPING, socket_of(carol).ctx, {"conversation_id": alice_bob.pk}, "t")
    assert refusal.code == ErrorCode.NOT_FOUND
    assert sent.sent == []
    assert lookups == [alice_bob.pk, alice_bob.pk]  # carol's check went to the database


async def test_on_another_process_someone_who_left_may_still_type_for_at_most_the_ttl(
    alice, bob, carol, trio, socket_of, broadcasts, clock, lookups
):
    carols = socket_of(carol)
    assert await sync_to_async(services.leave_conversation)(user=carol, conversation=trio)  # forgotten here at once
    cached_before_she_left = realtime.participants.epoch
    realtime.participants.put(trio.pk, [alice.pk, bob.pk, carol.pk], epoch=cached_before_she_left)  # on another process
    clock.now += 4.9
    with broadcasts() as sent:
        await TYPING(carols.ctx, {"conversation_id": trio.pk}, None)  # the cached list still names her
    assert sent.groups() == [user_group(alice.pk), user_group(bob.pk)]
    clock.now += 0.1
    with broadcasts() as sent:
        refusal = await refusal_of(TYPING, carols.ctx, {"conversation_id": trio.pk}, None)
    assert refusal.code == ErrorCode.NOT_FOUND
    assert sent.sent == []
    with broadcasts() as sent:
        await TYPING(socket_of(alice).ctx, {"conversation_id": trio.pk}, "a")
    assert sent.groups() == [user_group(bob.pk)]  # carol no longer hears it
    assert lookups == [trio.pk, trio.pk]


async def test_typing_is_acknowledged_when_it_carries_a_ref(alice, alice_bob, socket_of, clock):
    socket = socket_of(alice)
    await TYPING(socket.ctx, {"conversation_id": alice_bob.pk}, "t1")
    await TYPING(socket.ctx, {"conversation_id": alice_bob.pk}, None)
    assert socket.sent == [{"type": ServerFrame.ACK, "data": {"conversation_id": alice_bob.pk}, "ref": "t1"}]


def test_the_cache_keeps_at_most_its_size_dropping_the_least_recently_stored():
    clock = Clock()
    cache = realtime.ParticipantCache(ttl=5.0, size=2, clock=clock)
    cache.put(1, [10, 11], epoch=cache.epoch)
    cache.put(2, [20], epoch=cache.epoch)
    cache.put(3, [30], epoch=cache.epoch)
    assert cache.get(1) is None
    assert cache.get(2) == (20,) and cache.get(3) == (30,)
    clock.now += 5.0
    assert cache.get(2) is None and cache.get(3) is None


async def test_a_list_in_use_is_read_again_in_the_background_without_holding_up_typing(
    alice, bob, alice_bob, socket_of, broadcasts, refreshed_at_60_percent, lookups, monkeypatch
):
    clock = refreshed_at_60_percent
    socket = socket_of(alice)
    await TYPING(socket.ctx, {"conversation_id": alice_bob.pk}, None)
    held = threading.Event()
    real = selectors.conversation_participant_ids

    def held_read(*, user, conversation_id):
        assert held.wait(5), "the background read was never let go"
        return real(user=user, conversation_id=conversation_id)

    monkeypatch.setattr(selectors, "conversation_participant_ids", held_read)
    clock.now += 3.5
    with broadcasts() as sent:
        await asyncio.wait_for(TYPING(socket.ctx, {"conversation_id": alice_bob.pk}, None), 5)  # while the read is held
        await asyncio.wait_for(TYPING(socket.ctx, {"conversation_id": alice_bob.pk}, None), 5)  # one read at a time
    assert sent.groups() == [user_group(bob.pk)] * 2
    assert len(realtime._refreshes) == 1
    held.set()
    await asyncio.wait_for(asyncio.gather(*realtime._refreshes), 5)
    clock.now += 2.5  # past the first list's expiry, before the second's refresh point (3.5 + 3 s)
    with broadcasts() as sent:
        await TYPING(socket.ctx, {"conversation_id": alice_bob.pk}, None)
    assert sent.groups() == [user_group(bob.pk)]
    assert realtime._refreshes == set()
    assert lookups == [alice_bob.pk] * 2  # the first read and the one in the background


async def test_a_background_read_by_someone_who_has_left_forgets_the_list(
    alice, bob, carol, trio, socket_of, broadcasts, refreshed_at_60_percent, lookups
):
    carols = socket_of(carol)
    assert await sync_to_async(services.leave_conversation)(user=carol, conversation=trio)
    cached_before_she_left = realtime.participants.epoch
    realtime.participants.put(trio.pk, [alice.pk, bob.pk, carol.pk], epoch=cached_before_she_left)  # on another process
    refreshed_at_60_percent.now += 3.5
    await TYPING(carols.ctx, {"conversation_id": trio.pk}, None)  # within the TTL: still relayed
    await asyncio.wait_for(asyncio.gather(*realtime._refreshes), 5)
    assert realtime.participants.get(trio.pk) is None
    with broadcasts() as sent:
        await TYPING(socket_of(alice).ctx, {"conversation_id": trio.pk}, None)
    assert sent.groups() == [user_group(bob.pk)]
    assert lookups == [trio.pk, trio.pk]  # carol's background read, then alice's


def test_each_list_is_read_again_at_its_own_drawn_share_of_the_ttl():
    clock = Clock()
    shares = iter([0.6, 0.9])
    drawn: list[tuple[float, float]] = []

    def draw(low: float, high: float) -> float:
        drawn.append((low, high))
        return next(shares)

    cache = realtime.ParticipantCache(ttl=5.0, size=10, clock=clock, draw=draw)
    cache.put(1, [10], epoch=cache.epoch)
    cache.put(2, [20], epoch=cache.epoch)
    assert drawn == [realtime.PARTICIPANTS_REFRESH] * 2
    clock.now += 2.9
    assert [cache.claim_refresh(1), cache.claim_refresh(2)] == [False, False]
    clock.now += 0.1
    assert [cache.claim_refresh(1), cache.claim_refresh(2)] == [True, False]
    assert cache.claim_refresh(1) is False  # claimed once
    clock.now += 1.5
    assert cache.claim_refresh(2) is True
    cache.release(1)
    assert cache.claim_refresh(1) is True  # a read that stored nothing can be tried again


def test_a_read_that_began_before_a_forget_is_not_stored():
    cache = realtime.ParticipantCache(ttl=5.0, size=10, clock=Clock())
    began = cache.epoch
    cache.forget(7)  # someone left conversation 7 while a read of conversation 1 was under way
    assert cache.put(1, [10, 11], epoch=began) == (10, 11)
    assert cache.get(1) is None
    cache.put(1, [10, 11], epoch=cache.epoch)
    assert cache.get(1) == (10, 11)


async def test_a_background_read_that_fails_unexpectedly_is_logged_and_may_be_tried_again(
    alice, bob, alice_bob, socket_of, refreshed_at_60_percent, monkeypatch, caplog
):
    socket = socket_of(alice)
    await TYPING(socket.ctx, {"conversation_id": alice_bob.pk}, None)

    def broken_read(*, user, conversation_id):
        raise RuntimeError("a bug in the read")

    monkeypatch.setattr(selectors, "conversation_participant_ids", broken_read)
    refreshed_at_60_percent.now += 3.5
    await TYPING(socket.ctx, {"conversation_id": alice_bob.pk}, None)
    await asyncio.wait_for(asyncio.gather(*realtime._refreshes), 5)
    failures = [record for record in caplog.records if record.name == "dedwen.messaging" and record.levelname == "ERROR"]
    assert [record.getMessage() for record in failures] == [f"participants of conversation {alice_bob.pk} not read again"]
    assert realtime.participants.get(alice_bob.pk) == (alice.pk, bob.pk)  # kept until it expires
    assert realtime.participants.claim_refresh(alice_bob.pk) is True
