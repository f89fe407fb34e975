"""Presence services and selectors: who is told, what is stored, who may see whom."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from messaging import services as services_of_messaging
from presence import services
from presence.models import LastSeen
from presence.protocol import PresenceServerFrame
from presence.runtime import publish_transitions
from presence.circles import Circle, circle_of
from presence.selectors import Status, contacts_of, visible_last_seen
from presence.stores import Transitions, get_store
from realtime.protocol import user_group
from tests.support.cast import make_user
from tests.support.messaging import direct

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
transactional = pytest.mark.django_db(transaction=True)  # publish_transitions reaches the database from its own thread


async def orm(fn, *args, **kwargs):
    """Run ORM code from an async test."""
    return await sync_to_async(fn)(*args, **kwargs)


@transactional
async def test_going_offline_stores_last_seen_and_tells_only_the_users_who_share_a_conversation(
    alice, bob, carol, announcements
):
    await orm(direct, alice, bob)
    before = timezone.now()

    await publish_transitions(get_store(), Transitions(offline={alice.pk}))

    stored = (await orm(LastSeen.objects.get, user=alice)).at
    assert stored >= before
    assert announcements.groups() == [user_group(bob.pk)]
    [frame] = announcements.frames()
    assert frame["type"] == PresenceServerFrame.PRESENCE
    last_seen = frame["data"].pop("last_seen")
    assert frame["data"] == {"user_id": alice.pk, "status": Status.OFFLINE}
    assert datetime.fromisoformat(last_seen) == stored


def test_going_offline_again_moves_last_seen(alice):
    services.store_last_seen(user_ids=[alice.pk], at=datetime(2025, 1, 1, tzinfo=UTC))

    services.store_last_seen(user_ids=[alice.pk], at=AT)

    assert LastSeen.objects.get(user=alice).at == AT


@transactional
async def test_a_deleted_user_going_offline_is_skipped(alice, announcements):
    gone = alice.pk
    await orm(alice.delete)

    await publish_transitions(get_store(), Transitions(offline={gone}))

    assert announcements.sent == []
    assert not await orm(LastSeen.objects.exists)


@transactional
async def test_coming_online_tells_every_contact_with_the_stored_last_seen(alice, bob, carol, announcements):
    await orm(direct, alice, bob)
    await orm(direct, alice, carol)
    await orm(LastSeen.objects.create, user=alice, at=AT)
    store = get_store()
    await store.open(user_id=alice.pk, socket_id="alice.phone")

    await publish_transitions(store, Transitions(online={alice.pk}))

    assert sorted(announcements.groups()) == sorted([user_group(bob.pk), user_group(carol.pk)])
    assert {frame["data"]["status"] for frame in announcements.frames()} == {Status.ONLINE}
    assert {frame["data"]["last_seen"] for frame in announcements.frames()} == {"2026-01-02T03:04:05Z"}


@transactional
async def test_an_announcement_the_store_no_longer_agrees_with_is_followed_by_the_current_status(alice, bob, announcements):
    # Another process closed alice's last socket after this one announced her online: the re-read
    # after the frame left finds her offline, and the watchers' last event says so.
    await orm(direct, alice, bob)
    store = get_store()  # alice has no socket in it

    await publish_transitions(store, Transitions(online={alice.pk}))

    assert announcements.groups() == [user_group(bob.pk)] * 2
    assert [frame["data"]["status"] for frame in announcements.frames()] == [Status.ONLINE, Status.OFFLINE]


@transactional
async def test_a_user_with_no_conversation_tells_nobody(alice, bob, announcements):
    store = get_store()
    await store.open(user_id=alice.pk, socket_id="alice.phone")

    await publish_transitions(store, Transitions(online={alice.pk}))

    assert announcements.sent == []


def test_only_users_sharing_a_conversation_are_visible(alice, bob, carol):
    direct(alice, bob)
    LastSeen.objects.create(user=bob, at=AT)

    assert visible_last_seen(viewer_id=alice.pk) == {bob.pk: AT}
    assert visible_last_seen(viewer_id=alice.pk, user_ids=[bob.pk, carol.pk, alice.pk, 999999]) == {bob.pk: AT}
    assert visible_last_seen(viewer_id=carol.pk) == {}


def test_a_circle_is_the_users_last_seen_and_their_contacts_in_one_query(
    alice, bob, carol, django_assert_num_queries
):
    direct(alice, bob)
    group = services_of_messaging.create_conversation(creator=alice, participant_ids=[carol.pk], title="g").conversation
    services_of_messaging.leave_conversation(user=carol, conversation=group)
    stranger = make_user("dave")
    LastSeen.objects.create(user=alice, at=AT)

    with django_assert_num_queries(1):
        circle = circle_of(user_id=alice.pk)

    assert circle == Circle(user_id=alice.pk, last_seen=AT, contacts={bob.pk: None})
    assert stranger.pk not in circle.contacts


def test_the_contacts_of_several_users_come_in_one_query(alice, bob, carol, django_assert_num_queries):
    direct(alice, bob)
    direct(bob, carol)

    with django_assert_num_queries(1):
        found = contacts_of(user_ids=[alice.pk, bob.pk, carol.pk])

    assert found == {alice.pk: {bob.pk}, bob.pk: {alice.pk, carol.pk}, carol.pk: {bob.pk}}


def test_storing_last_seen_names_who_must_be_told_and_skips_deleted_users(alice, bob, carol):
    direct(alice, bob)
    gone = carol.pk
    carol.delete()

    watchers = services.store_last_seen(user_ids=[alice.pk, gone], at=AT)

    assert watchers == {alice.pk: {bob.pk}}
    assert list(LastSeen.objects.values_list("user_id", "at")) == [(alice.pk, AT)]


def test_a_circle_names_a_contact_of_several_conversations_once_and_keeps_a_loners_last_seen(alice, bob, carol):
    direct(alice, bob)
    services_of_messaging.create_conversation(creator=alice, participant_ids=[bob.pk, carol.pk], title="g")
    LastSeen.objects.create(user=bob, at=AT)
    LastSeen.objects.create(user=carol, at=AT)
    loner = make_user("dave")
    LastSeen.objects.create(user=loner, at=AT)

    assert circle_of(user_id=alice.pk) == Circle(user_id=alice.pk, last_seen=None, contacts={bob.pk: AT, carol.pk: AT})
    assert circle_of(user_id=loner.pk) == Circle(user_id=loner.pk, last_seen=AT, contacts={})


def test_a_circle_read_again_gives_each_contact_their_own_last_seen_as_the_orm_reads_it(alice, bob, carol):
    # The read keeps the values it converted (and on PostgreSQL the timestamps it parsed) by their text.
    direct(alice, bob)
    direct(alice, carol)
    LastSeen.objects.create(user=bob, at=AT)
    LastSeen.objects.create(user=carol, at=AT.replace(microsecond=1))

    def as_the_orm_reads_them() -> dict[int, datetime]:
        return dict(LastSeen.objects.filter(user__in=[bob, carol]).values_list("user_id", "at"))

    for _ in range(2):  # the second read meets the values the first one kept
        assert circle_of(user_id=alice.pk).contacts == as_the_orm_reads_them()
    LastSeen.objects.filter(user=bob).update(at=AT.replace(year=2027))
    contacts = circle_of(user_id=alice.pk).contacts
    assert contacts == as_the_orm_reads_them() == {bob.pk: AT.replace(year=2027), carol.pk: AT.replace(microsecond=1)}
    assert all(at.utcoffset() == timedelta(0) for at in contacts.values())
