"""Kept conversations: a circle read from memory is the circle the database holds, and what is kept is bounded."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection, connections, transaction

from messaging import services as services_of_messaging
from messaging.models import Membership
from presence import circles, services
from presence.circles import Circle, circle_of, forget_kept
from presence.models import LastSeen, Visibility
from tests.support.cast import make_user
from tests.support.messaging import direct

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
LATER = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)

# Outside a transaction, as a socket's authentication reads it: each read commits what it wrote.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def nothing_kept():
    forget_kept()
    yield
    forget_kept()


@pytest.fixture
def group(alice, bob, carol):
    """A group of alice, bob and carol; bob and carol were seen at AT."""
    conversation = services_of_messaging.create_conversation(
        creator=alice, participant_ids=[bob.pk, carol.pk], title="g"
    ).conversation
    for user in (bob, carol):
        LastSeen.objects.create(user=user, at=AT)
    return conversation


def read_afresh(user_id: int) -> Circle:
    """Return the circle as the database holds it, with nothing kept."""
    forget_kept()
    return circle_of(user_id=user_id)


def test_a_second_member_reads_only_their_own_row_once_the_conversation_is_kept(
    alice, bob, carol, group, django_assert_num_queries
):
    with django_assert_num_queries(1):
        assert circle_of(user_id=alice.pk) == Circle(user_id=alice.pk, last_seen=None, contacts={bob.pk: AT, carol.pk: AT})

    with django_assert_num_queries(1):
        circle = circle_of(user_id=bob.pk)

    assert circle == Circle(user_id=bob.pk, last_seen=AT, contacts={alice.pk: None, carol.pk: AT})
    assert circle == read_afresh(bob.pk)


def _leave(alice, bob, carol, group):
    services_of_messaging.leave_conversation(user=carol, conversation=group)


def _join(alice, bob, carol, group):
    Membership.objects.create(conversation=group, user=make_user("dave"))


def _remove_membership(alice, bob, carol, group):
    Membership.objects.filter(conversation=group, user=carol).delete()


def _delete_user(alice, bob, carol, group):
    carol.delete()


def _go_offline(alice, bob, carol, group):
    services.store_last_seen(user_ids=[bob.pk], at=LATER)


def _move_last_seen_in_sql(alice, bob, carol, group):
    LastSeen.objects.filter(user=bob).update(at=LATER)


def _forget_last_seen(alice, bob, carol, group):
    LastSeen.objects.filter(user=carol).delete()


def _go_invisible(alice, bob, carol, group):
    services.set_visibility(user_id=carol.pk, visible=False)


def _open_a_direct_conversation(alice, bob, carol, group):
    direct(alice, make_user("erin"))


@pytest.mark.parametrize(
    "change",
    [
        _leave,
        _join,
        _remove_membership,
        _delete_user,
        _go_offline,
        _move_last_seen_in_sql,
        _forget_last_seen,
        _go_invisible,
        _open_a_direct_conversation,
    ],
)
def test_every_change_to_a_circle_is_read_at_once_by_the_next_socket(alice, bob, carol, group, change):
    before = circle_of(user_id=alice.pk)

    change(alice, bob, carol, group)

    after = circle_of(user_id=alice.pk)
    assert after != before
    assert after == read_afresh(alice.pk)


def test_a_user_who_drops_their_visibility_row_is_visible_to_the_next_socket(alice, carol, group):
    Visibility.objects.create(user=carol, visible=False)
    assert circle_of(user_id=alice.pk).hidden == {carol.pk}

    Visibility.objects.filter(user=carol).delete()

    assert circle_of(user_id=alice.pk).hidden == frozenset()


def test_reading_a_message_leaves_what_is_kept_in_place(alice, bob, carol, group, django_assert_num_queries):
    circle_of(user_id=alice.pk)
    message = services_of_messaging.send_message(sender=bob, conversation=group, body="hi", client_id="c1").message
    services_of_messaging.mark_read(user=alice, conversation=group, message=message)

    with django_assert_num_queries(1):
        circle_of(user_id=carol.pk)


def test_a_read_inside_a_transaction_sees_its_own_changes_and_keeps_nothing_of_them(alice, bob, group):
    circle_of(user_id=alice.pk)

    with pytest.raises(RuntimeError), transaction.atomic():
        LastSeen.objects.filter(user=bob).update(at=LATER)
        assert circle_of(user_id=alice.pk).contacts[bob.pk] == LATER
        raise RuntimeError("rolled back")

    assert circle_of(user_id=alice.pk).contacts[bob.pk] == AT


def test_a_conversation_larger_than_what_may_be_kept_is_read_each_time(
    alice, bob, carol, group, monkeypatch, django_assert_num_queries
):
    monkeypatch.setattr(circles, "KEPT_MEMBERS", 2)
    circle_of(user_id=alice.pk)

    with django_assert_num_queries(2):
        circle = circle_of(user_id=bob.pk)

    assert circle == Circle(user_id=bob.pk, last_seen=AT, contacts={alice.pk: None, carol.pk: AT})


def test_the_conversations_read_longest_ago_are_dropped_first(alice, bob, carol, monkeypatch, django_assert_num_queries):
    monkeypatch.setattr(circles, "KEPT_MEMBERS", 4)
    dave, erin = make_user("dave"), make_user("erin")
    direct(alice, bob)
    direct(carol, dave)
    direct(erin, make_user("frank"))
    circle_of(user_id=alice.pk)
    circle_of(user_id=carol.pk)
    circle_of(user_id=erin.pk)  # over four members: alice and bob's conversation goes

    with django_assert_num_queries(1):
        circle_of(user_id=dave.pk)
    with django_assert_num_queries(2):
        assert circle_of(user_id=bob.pk) == Circle(user_id=bob.pk, last_seen=None, contacts={alice.pk: None})


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only: SQLite runs one writer at a time")
def test_writers_of_last_seen_do_not_wait_for_each_other_on_the_version(alice, bob):
    # The token is replaced at commit (deferred triggers): taken at the first changed row, the
    # second writer would wait here for the first one's commit.
    first_wrote, second_done = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def first() -> None:
        try:
            with transaction.atomic():
                services.store_last_seen(user_ids=[alice.pk], at=AT)
                first_wrote.set()
                second_done.wait(timeout=10)
        except BaseException as exc:  # noqa: BLE001 - reported by the test's thread
            failures.append(exc)
            first_wrote.set()
        finally:
            connections.close_all()

    writer = threading.Thread(target=first)
    writer.start()
    try:
        assert first_wrote.wait(timeout=10)
        second = threading.Thread(target=lambda: (services.store_last_seen(user_ids=[bob.pk], at=AT), second_done.set(), connections.close_all()))
        second.start()
        second.join(timeout=5)
        assert second_done.is_set(), "the second writer waited for the first one's transaction"
    finally:
        second_done.set()
        writer.join(timeout=10)
    assert failures == []
    assert set(LastSeen.objects.values_list("user_id", flat=True)) == {alice.pk, bob.pk}
