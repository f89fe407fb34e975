"""Messaging services: the rules behind REST and WebSocket alike, including their races."""

from __future__ import annotations

import pytest

from messaging import services
from messaging.models import Conversation, Message, Notification
from messaging.protocol import MessagingServerFrame
from realtime.protocol import user_group
from tests.support.messaging import direct, send

pytestmark = pytest.mark.django_db


def test_a_send_whose_client_id_was_stored_meanwhile_returns_the_stored_message_and_publishes_nothing(alice, bob, alice_bob, broadcasts):
    # What a send racing another with the same client_id meets: the row is there when it inserts.
    stored = Message.objects.create(conversation=alice_bob, sender=alice, body="first", client_id="race")
    with broadcasts() as sent:
        result = services.send_message(sender=alice, conversation=alice_bob, body="first", client_id="race")
    assert result == services.Sent(stored, created=False)
    assert result.data["id"] == stored.pk and result.data["sender"] == {"id": alice.pk, "username": "alice"}
    assert Message.objects.count() == 1 and not Notification.objects.filter(kind="message").exists()
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


def test_messages_with_their_access_checks_take_a_fixed_number_of_queries_however_many(alice, bob, carol, django_assert_num_queries):
    group = services.create_conversation(creator=alice, participant_ids=[bob.pk, carol.pk], title="g").conversation
    alice_bob = direct(alice, bob)
    outgoing = [
        services.Outgoing(sender=alice, conversation_id=group.pk, body="hi", client_id="q-1"),
        services.Outgoing(sender=bob, conversation_id=group.pk, body="hi", client_id="q-2"),
        services.Outgoing(sender=bob, conversation_id=alice_bob.pk, body="hi", client_id="q-3"),
    ]
    # the participants (the access check), the insert, the activity (two batched updates), the
    # notifications and their unread counts; plus the savepoint pair of the test's transaction
    with django_assert_num_queries(8):
        results = services.send_messages(outgoing=outgoing)
    assert [result.created for result in results] == [True, True, True]
    assert Notification.objects.filter(kind="message").count() == 5
