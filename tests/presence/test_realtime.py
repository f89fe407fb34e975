"""The consumer's presence hooks: what a socket opening or closing costs, sends and stores."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from asgiref.sync import sync_to_async

from presence import runtime
from presence.models import LastSeen
from presence.protocol import PresenceServerFrame
from presence.realtime import socket_closed
from presence.selectors import Status
from presence.stores import Transitions
from realtime.protocol import user_group
from tests.support.cast import make_user
from tests.support.messaging import direct
from tests.support.presence import open_presence, start_presence

pytestmark = pytest.mark.django_db(transaction=True)

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
AT_TEXT = "2026-01-02T03:04:05Z"


@pytest.fixture
def contacts(alice, bob, carol):
    """alice shares a direct conversation with bob and one with carol; alice and bob were seen at AT."""
    direct(alice, bob)
    direct(alice, carol)
    LastSeen.objects.create(user=alice, at=AT)
    LastSeen.objects.create(user=bob, at=AT)


def presence_of(user, status: Status, last_seen: str | None) -> dict:
    return {"user_id": user.pk, "status": status, "last_seen": last_seen}


async def test_the_first_socket_reads_the_database_once_and_tells_each_contact_once(
    alice, bob, carol, contacts, socket_of, db_calls, announcements
):
    phone = socket_of(alice)

    await open_presence(phone.ctx)

    assert db_calls.trips == 1  # the circle: last_seen and contacts
    assert phone.sent == [
        {
            "type": PresenceServerFrame.PRESENCE_SNAPSHOT,
            "data": {"users": [presence_of(bob, Status.OFFLINE, AT_TEXT), presence_of(carol, Status.OFFLINE, None)]},
        }
    ]
    assert sorted(announcements.groups()) == sorted([user_group(bob.pk), user_group(carol.pk)])
    assert len(announcements.texts) == 1  # serialized once for every watcher
    assert {frame["type"] for frame in announcements.frames()} == {PresenceServerFrame.PRESENCE}
    assert [frame["data"] for frame in announcements.frames()] == [presence_of(alice, Status.ONLINE, AT_TEXT)] * 2


async def test_a_second_socket_opening_and_closing_announces_nothing_and_closing_it_needs_no_database(
    alice, bob, contacts, socket_of, db_calls, announcements
):
    phone, laptop, bobs = socket_of(alice), socket_of(alice), socket_of(bob)
    await open_presence(bobs.ctx)
    await open_presence(phone.ctx)
    db_calls.clear()
    announcements.sent.clear()

    await open_presence(laptop.ctx)

    assert db_calls.trips == 1  # its own snapshot, nothing else
    [snapshot] = laptop.sent
    assert presence_of(bob, Status.ONLINE, AT_TEXT) in snapshot["data"]["users"]

    await socket_closed(laptop.ctx)

    assert db_calls.trips == 1  # closing it needed none
    assert announcements.sent == []
    assert (await sync_to_async(LastSeen.objects.get)(user=alice)).at == AT  # alice is still online


async def test_the_last_socket_closing_stores_last_seen_and_tells_each_contact_in_one_database_call(
    alice, bob, carol, contacts, socket_of, db_calls, announcements
):
    phone = socket_of(alice)
    await open_presence(phone.ctx)
    db_calls.clear()
    announcements.sent.clear()

    await socket_closed(phone.ctx)

    assert db_calls.trips == 1  # last_seen stored and the watchers read in the same trip
    stored = (await sync_to_async(LastSeen.objects.get)(user=alice)).at
    assert stored > AT
    assert sorted(announcements.groups()) == sorted([user_group(bob.pk), user_group(carol.pk)])
    [offline] = {frame["data"]["last_seen"] for frame in announcements.frames()}
    assert datetime.fromisoformat(offline) == stored
    assert {(frame["data"]["user_id"], frame["data"]["status"]) for frame in announcements.frames()} == {
        (alice.pk, Status.OFFLINE)
    }


async def test_a_user_sharing_no_conversation_gets_an_empty_snapshot_and_tells_nobody(
    alice, bob, contacts, socket_of, db_calls, announcements
):
    dave = await sync_to_async(make_user)("dave")
    socket = socket_of(dave)

    await open_presence(socket.ctx)
    await socket_closed(socket.ctx)

    assert socket.sent == [{"type": PresenceServerFrame.PRESENCE_SNAPSHOT, "data": {"users": []}}]
    assert db_calls.trips == 2  # the snapshot on open, last_seen on close
    assert announcements.sent == []


async def test_the_announcements_of_one_presence_tick_leave_in_one_layer_call_in_order_and_no_socket_waits_for_them(
    alice, bob, carol, contacts, socket_of, announcements, monkeypatch
):
    monkeypatch.setattr(runtime, "ANNOUNCE_EVERY", 0.5)  # room for both opens inside one tick

    await start_presence(socket_of(bob).ctx)
    await start_presence(socket_of(carol).ctx)
    assert announcements.batches == []  # both sockets are open; their announcements wait for the tick

    await runtime.announced()
    assert announcements.batches == [[bob.pk, carol.pk]]  # one layer call: one write per watching socket
    assert announcements.groups() == [user_group(alice.pk)] * 2


async def test_the_announcements_of_one_tick_are_checked_against_the_store_in_one_read(
    alice, bob, carol, contacts, socket_of, announcements, monkeypatch
):
    # After its frames leave, each announcement re-reads its user's status to correct an overtaken
    # event: those of one tick share the read (one HMGET with Redis), not one each.
    monkeypatch.setattr(runtime, "ANNOUNCE_EVERY", 0.5)  # room for both opens inside one tick
    store = runtime.running_store()
    await start_presence(socket_of(bob).ctx)
    await start_presence(socket_of(carol).ctx)
    reads = store_reads(store, monkeypatch)

    await runtime.announced()

    assert reads == [[bob.pk, carol.pk]]


def store_reads(store, monkeypatch) -> list[list[int]]:
    """Record the user ids of each `statuses` call made to the store from now on."""
    reads: list[list[int]] = []
    read = store.statuses

    async def recorded(*, user_ids):
        reads.append(sorted(user_ids))
        return await read(user_ids=user_ids)

    monkeypatch.setattr(store, "statuses", recorded)
    return reads


async def test_users_going_offline_together_are_announced_in_one_tick(alice, bob, carol, contacts, announcements):
    # A sweep or a clean stop turns many users offline at once: one tick, not one tick per user.
    store = runtime.running_store()

    await runtime.publish_transitions(store, Transitions(offline={bob.pk, carol.pk}))

    assert announcements.batches == [[bob.pk, carol.pk]]
    assert {frame["data"]["status"] for frame in announcements.frames()} == {Status.OFFLINE}
