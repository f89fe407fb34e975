"""Messaging services: the rules behind REST and WebSocket alike, including their races."""

from __future__ import annotations

import pytest

from messaging import selectors, services
from messaging.models import Conversation, Message, Notification
from messaging.protocol import MessagingServerFrame
from realtime.protocol import user_group
from tests.support.messaging import direct, send

pytestmark = pytest.mark.django_db


def test_a_send_racing_another_with_the_same_client_id_returns_the_stored_message(alice, alice_bob, monkeypatch, broadcasts):
    stored = send(alice, alice_bob, "first", client_id="race")
    real_sent_before = services._sent_before
    calls = []

    def lost_the_race(**kwargs):
        calls.append(kwargs)
        return None if len(calls) == 1 else real_sent_before(**kwargs)  # the first look misses the other send

    monkeypatch.setattr(services, "_sent_before", lost_the_race)
    with broadcasts() as sent:
        result = services.send_message(sender=alice, conversation=alice_bob, body="first", client_id="race")
    assert result == services.Sent(stored, created=False)
    assert len(calls) == 2
    assert Message.objects.count() == 1
    assert sent.sent == []


def test_opening_a_direct_conversation_racing_another_returns_the_stored_one(alice, bob, monkeypatch):
    stored = direct(alice, bob)
    real_filter = Conversation.objects.filter
    monkeypatch.setattr(Conversation.objects, "filter", lambda **kw: real_filter(pk=None) if "direct_key" in kw else real_filter(**kw))
    opened = services.create_conversation(creator=bob, participant_ids=[alice.pk])
    assert opened == services.Opened(stored, created=False)
    assert Conversation.objects.count() == 1


def test_a_group_is_never_merged_with_another_of_the_same_people(alice, bob, carol):
    first = services.create_conversation(creator=alice, participant_ids=[bob.pk, carol.pk], title="a")
    second = services.create_conversation(creator=alice, participant_ids=[bob.pk, carol.pk], title="a")
    assert first.created and second.created and first.conversation != second.conversation


def test_a_notification_is_stored_and_pushed_the_notification_with_the_live_unread_count(alice, broadcasts):
    services.notify_users(user_ids=[alice.pk], kind="system", text="first")
    with broadcasts() as sent:
        (note,) = services.notify_users(user_ids=[alice.pk], kind="system", text="Welcome", data={"x": 1})
    assert sent.frames() == [
        {
            "type": MessagingServerFrame.NOTIFICATION,
            "data": {
                "id": note.pk,
                "kind": "system",
                "text": "Welcome",
                "data": {"x": 1},
                "created_at": note.created_at.isoformat().replace("+00:00", "Z"),
                "unread_count": 2,
            },
        }
    ]
    assert sent.groups() == [user_group(alice.pk)]


def test_marking_notifications_read_touches_only_the_users_own(alice, bob):
    (mine,) = services.notify_users(user_ids=[alice.pk], kind="k", text="mine")
    (theirs,) = services.notify_users(user_ids=[bob.pk], kind="k", text="theirs")
    assert services.mark_notifications_read(user=alice, ids=[mine.pk, theirs.pk]) == 1
    assert Notification.objects.get(pk=theirs.pk).read_at is None
    services.notify_users(user_ids=[alice.pk], kind="k", text="again")
    assert services.mark_notifications_read(user=alice) == 1


def test_a_long_message_is_previewed_in_its_notification(alice, bob, alice_bob):
    send(alice, alice_bob, "word " * 100)
    note = Notification.objects.filter(user=bob, kind="message").get()
    assert len(note.text) == services.NOTIFICATION_PREVIEW_LENGTH and note.text.endswith("…")


def test_a_direct_conversation_cannot_be_left(alice, alice_bob):
    with pytest.raises(services.CannotLeave):
        services.leave_conversation(user=alice, conversation=alice_bob)


def test_a_new_message_with_its_access_check_takes_a_fixed_number_of_queries(alice, bob, carol, django_assert_num_queries):
    group = services.create_conversation(creator=alice, participant_ids=[bob.pk, carol.pk], title="g").conversation
    # access, the earlier-send check, the insert, the activity (two updates), the participants,
    # the notifications and their unread counts; plus the savepoint pair of the test's transaction
    with django_assert_num_queries(10):
        conversation = selectors.access_conversation(user=alice, conversation_id=group.pk)
        services.send_message(sender=alice, conversation=conversation, body="hi", client_id="q-1")
