"""Sending messages together: several sends in one transaction, each with its own answer (services.send_messages, SendQueue)."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings
from rest_framework.exceptions import ValidationError

from messaging import realtime, selectors, services
from messaging.models import Conversation, Membership, Message, Notification
from messaging.protocol import MessagingClientFrame, MessagingServerFrame
from messaging.serializers import (
    MessageSendFrameSerializer,
    MessageSerializer,
    NotificationSerializer,
    message_data,
    message_send_frame,
    notification_frame_data,
)
from realtime.fields import validated
from realtime.protocol import ErrorCode, ServerFrame, user_group
from tests.support.cast import make_user
from tests.support.messaging import direct, send

SEND = realtime.SOCKET_APP.handlers[MessagingClientFrame.MESSAGE_SEND]


def outgoing(sender, conversation, client_id: str, body: str = "hi", **extra) -> services.Outgoing:
    return services.Outgoing(sender=sender, conversation_id=conversation.pk, body=body, client_id=client_id, **extra)


# services.send_messages ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_several_sends_are_stored_in_one_call_each_with_its_activity_read_marker_and_notifications(
    alice, bob, carol, alice_bob, broadcasts
):
    bob_carol = direct(bob, carol)
    with broadcasts() as sent:
        first, second, third = services.send_messages(
            outgoing=[outgoing(alice, alice_bob, "a-1", "one"), outgoing(bob, bob_carol, "b-1", "two"), outgoing(alice, alice_bob, "a-2", "three")]
        )
    assert [result.created for result in (first, second, third)] == [True, True, True]
    assert list(Message.objects.order_by("id").values_list("body", flat=True)) == ["one", "two", "three"]
    assert Conversation.objects.get(pk=alice_bob.pk).last_message_id == third.message.pk
    assert Conversation.objects.get(pk=bob_carol.pk).last_message_id == second.message.pk
    assert Membership.objects.get(conversation=alice_bob, user=alice).last_read_id == third.message.pk
    assert Membership.objects.get(conversation=bob_carol, user=bob).last_read_id == second.message.pk
    assert Membership.objects.get(conversation=alice_bob, user=bob).last_read_id == 0
    bob_frames = sent.frames(user_group(bob.pk))
    in_id_order = sorted((first, second, third), key=lambda sent: sent.message.pk)
    assert [(frame["type"], frame["data"].get("message", frame["data"].get("data"))) for frame in bob_frames] == [
        *((MessagingServerFrame.MESSAGE_NEW, sent.data) for sent in in_id_order),
        (MessagingServerFrame.NOTIFICATION, {"conversation_id": alice_bob.pk, "message_id": first.message.pk}),
        (MessagingServerFrame.NOTIFICATION, {"conversation_id": alice_bob.pk, "message_id": third.message.pk}),
    ]
    # bob's two notifications count up as if sent one after the other (plus the one of the opened conversation)
    counts = [frame["data"]["unread_count"] for frame in bob_frames if frame["type"] == MessagingServerFrame.NOTIFICATION]
    assert counts == [2, 3]
    assert [frame["data"]["data"] for frame in sent.frames(user_group(carol.pk)) if frame["type"] == MessagingServerFrame.NOTIFICATION] == [
        {"conversation_id": bob_carol.pk, "message_id": second.message.pk}
    ]


@pytest.mark.django_db
def test_a_refused_send_among_others_fails_alone(alice, bob, carol, alice_bob, broadcasts):
    earlier = send(alice, direct(alice, carol), client_id="used")
    with broadcasts() as sent:
        results = services.send_messages(
            outgoing=[
                outgoing(alice, alice_bob, "ok-1"),
                outgoing(carol, alice_bob, "not-hers"),  # carol is not in it
                outgoing(alice, alice_bob, "used"),  # names a message of another conversation
                outgoing(bob, alice_bob, "ok-2"),
            ]
        )
    assert isinstance(results[1], selectors.ConversationNotFound)
    assert isinstance(results[2], services.ClientIdReused)
    assert [results[0].created, results[3].created] == [True, True]
    assert set(Message.objects.values_list("client_id", flat=True)) == {"used", "ok-1", "ok-2"}
    assert Message.objects.get(client_id="used") == earlier
    published = [frame["data"]["message"]["client_id"] for frame in sent.frames(user_group(bob.pk)) if frame["type"] == MessagingServerFrame.MESSAGE_NEW]
    assert published == ["ok-1", "ok-2"]


@pytest.mark.django_db
def test_the_same_client_id_twice_in_one_call_is_stored_once_and_published_once(alice, bob, carol, alice_bob, broadcasts):
    alice_carol = direct(alice, carol)
    with broadcasts() as sent:
        first, again, elsewhere = services.send_messages(
            outgoing=[outgoing(alice, alice_bob, "twice", "once"), outgoing(alice, alice_bob, "twice", "once"), outgoing(alice, alice_carol, "twice")]
        )
    assert first.created and not again.created
    assert again.message.pk == first.message.pk and again.data == first.data
    assert isinstance(elsewhere, services.ClientIdReused)
    assert Message.objects.filter(client_id="twice").count() == 1
    assert Notification.objects.filter(kind="message").count() == 1
    assert [frame["type"] for frame in sent.frames(user_group(bob.pk))] == [MessagingServerFrame.MESSAGE_NEW, MessagingServerFrame.NOTIFICATION]


@pytest.mark.django_db
def test_a_send_to_more_users_than_one_statement_takes_notifies_each_with_their_count(alice, bob, carol, broadcasts, monkeypatch):
    monkeypatch.setattr(services, "NOTIFICATIONS_PER_INSERT", 2)
    monkeypatch.setattr(services, "UNREAD_PER_UPSERT", 2)
    others = [bob, carol, *(make_user(name) for name in ("dave", "erin", "frank"))]
    group = services.create_conversation(creator=alice, participant_ids=[user.pk for user in others], title="five").conversation
    services.notify_users(user_ids=[carol.pk], kind="k", text="carol has one more")
    with broadcasts() as sent:
        (result,) = services.send_messages(outgoing=[outgoing(alice, group, "many")])
    notified = {
        int(group_name.split(".")[-1]): frame["data"]
        for group_name, frame in ((group_name, json.loads(event["text"])) for group_name, event in sent.sent)
        if frame["type"] == MessagingServerFrame.NOTIFICATION
    }
    assert set(notified) == {user.pk for user in others}
    assert all(note["data"] == {"conversation_id": group.pk, "message_id": result.message.pk} for note in notified.values())
    assert {user_id: note["unread_count"] for user_id, note in notified.items()} == {
        user.pk: 3 if user == carol else 2 for user in others  # the group's opening, carol's extra one, this message
    }
    assert len({note["id"] for note in notified.values()}) == 5


@pytest.mark.django_db
def test_a_stored_message_is_shaped_as_the_message_serializer_shapes_it(alice, alice_bob):
    sent = services.send_message(sender=alice, conversation=alice_bob, body="shape ✓", client_id="shape")
    stored = Message.objects.select_related("sender").get(pk=sent.message.pk)
    assert sent.data == MessageSerializer(stored).data == message_data(stored)
    assert list(sent.data) == list(MessageSerializer(stored).data)  # same keys in the same order: the same JSON


@pytest.mark.django_db
def test_a_notification_frame_has_the_notification_serializers_shape_without_read_at(alice):
    (note,) = services.notify_users(user_ids=[alice.pk], kind="k", text="t", data={"x": [1]})
    stored = Notification.objects.get(pk=note.pk)
    expected = {key: value for key, value in NotificationSerializer(stored).data.items() if key != "read_at"}
    assert notification_frame_data(stored, unread_count=4) == {**expected, "unread_count": 4}
    assert list(notification_frame_data(stored, unread_count=4)) == [*expected, "unread_count"]


# The frame's fields: plain input skips the serializer, everything else gets its answer ------------


@pytest.mark.parametrize(
    "data",
    [
        {"conversation_id": 1, "body": "x", "client_id": "c"},
        {"conversation_id": 2**63 - 1, "body": " spaced body ", "client_id": "  padded  "},
        {"conversation_id": 1, "body": "é ✓ 😀", "client_id": "ü"},
        {"conversation_id": 1, "body": "x" * 10, "client_id": "c" * 64, "extra": True},
        {"conversation_id": 1, "body": "x" * 11, "client_id": "c"},
        {"conversation_id": 1, "body": "x", "client_id": "c" * 65},
        {"conversation_id": 1, "body": "x", "client_id": " " + "c" * 64 + " "},
        {"conversation_id": 1, "body": "x", "client_id": "   "},
        {"conversation_id": 1, "body": " \n\t", "client_id": "c"},
        {"conversation_id": 1, "body": "", "client_id": "c"},
        {"conversation_id": 1, "body": "a\x00b", "client_id": "c"},
        {"conversation_id": 1, "body": "x", "client_id": "c\x00"},
        {"conversation_id": 1, "body": "a\ud800b", "client_id": "c"},
        {"conversation_id": 1, "body": "x", "client_id": "\udfff"},
        {"conversation_id": 0, "body": "x", "client_id": "c"},
        {"conversation_id": 2**63, "body": "x", "client_id": "c"},
        {"conversation_id": True, "body": "x", "client_id": "c"},
        {"conversation_id": 1.0, "body": "x", "client_id": "c"},
        {"conversation_id": "1", "body": "x", "client_id": "c"},
        {"conversation_id": None, "body": "x", "client_id": "c"},
        {"conversation_id": 1, "body": None, "client_id": "c"},
        {"conversation_id": 1, "body": ["x"], "client_id": "c"},
        {"conversation_id": 1, "body": "x", "client_id": 7},
        {"body": "", "client_id": 7},
        {},
    ],
)
@override_settings(DEDWEN_MESSAGE_MAX_LENGTH=10)
def test_the_send_frames_fields_are_what_the_serializer_says(data):
    try:
        expected = validated(MessageSendFrameSerializer, data)
    except ValidationError as refused:
        with pytest.raises(ValidationError) as also_refused:
            message_send_frame(data)
        assert also_refused.value.detail == refused.detail
    else:
        assert message_send_frame(data) == dict(expected)


# Through the frame handler: sends of several sockets waiting together -----------------------------


@pytest.mark.django_db(transaction=True)
async def test_sends_of_several_sockets_arriving_together_share_a_trip_and_each_gets_its_own_answer(
    alice, bob, carol, alice_bob, socket_of, broadcasts, monkeypatch
):
    trips = []
    real_send_messages = services.send_messages

    def recorded(*, outgoing):
        trips.append([send.client_id for send in outgoing])
        return real_send_messages(outgoing=outgoing)

    monkeypatch.setattr(services, "send_messages", recorded)
    alice_phone, alice_laptop, bob_socket, carol_socket = socket_of(alice), socket_of(alice), socket_of(bob), socket_of(carol)
    frames = [
        (alice_phone, {"conversation_id": alice_bob.pk, "body": "one", "client_id": "same"}),
        (alice_laptop, {"conversation_id": alice_bob.pk, "body": "one", "client_id": "same"}),  # the retry, racing
        (bob_socket, {"conversation_id": alice_bob.pk, "body": "two", "client_id": "b"}),
        (carol_socket, {"conversation_id": alice_bob.pk, "body": "no", "client_id": "c"}),  # not hers
    ]
    with broadcasts() as sent:
        results = await asyncio.gather(*(SEND(socket.ctx, data, f"r{n}") for n, (socket, data) in enumerate(frames)), return_exceptions=True)
    assert trips == [["same", "same", "b", "c"]]
    assert results[:3] == [None, None, None] and isinstance(results[3], selectors.ConversationNotFound)
    assert results[3].code == ErrorCode.NOT_FOUND
    [phone_ack], [laptop_ack], [bob_ack] = alice_phone.sent, alice_laptop.sent, bob_socket.sent
    assert phone_ack["type"] == laptop_ack["type"] == bob_ack["type"] == ServerFrame.ACK
    assert phone_ack["data"] == laptop_ack["data"] and phone_ack["ref"] == "r0" and laptop_ack["ref"] == "r1"
    assert carol_socket.sent == []
    assert await sync_to_async(Message.objects.count)() == 2
    new = [event for group, event in sent.sent if group == user_group(bob.pk) and event["frame_type"] == MessagingServerFrame.MESSAGE_NEW]
    assert [event.get("exclude_channel") for event in new] == [alice_phone.channel_name, bob_socket.channel_name]


@pytest.mark.django_db(transaction=True)
async def test_when_a_shared_trip_fails_each_send_is_stored_alone_and_only_the_bad_one_fails(
    alice, bob, alice_bob, socket_of, monkeypatch
):
    real_send_messages = services.send_messages

    def one_bad(*, outgoing):
        if any(send.body == "bad" for send in outgoing):
            raise RuntimeError("a bug in one send")
        return real_send_messages(outgoing=outgoing)

    monkeypatch.setattr(services, "send_messages", one_bad)
    good, bad = socket_of(alice), socket_of(bob)
    results = await asyncio.gather(
        SEND(good.ctx, {"conversation_id": alice_bob.pk, "body": "good", "client_id": "g"}, "g"),
        SEND(bad.ctx, {"conversation_id": alice_bob.pk, "body": "bad", "client_id": "b"}, "b"),
        return_exceptions=True,
    )
    assert results[0] is None and isinstance(results[1], RuntimeError)
    assert [frame["type"] for frame in good.sent] == [ServerFrame.ACK] and bad.sent == []
    assert await sync_to_async(lambda: list(Message.objects.values_list("body", flat=True)))() == ["good"]


@pytest.mark.django_db(transaction=True)
async def test_more_sends_waiting_than_one_trip_takes_go_in_the_next_trips(alice, alice_bob, socket_of, monkeypatch):
    trips = []
    real_send_messages = services.send_messages

    def recorded(*, outgoing):
        trips.append(len(outgoing))
        return real_send_messages(outgoing=outgoing)

    monkeypatch.setattr(services, "send_messages", recorded)
    monkeypatch.setattr(realtime, "SEND_BATCH", 2)
    sockets = [socket_of(alice) for _ in range(5)]
    await asyncio.gather(
        *(SEND(socket.ctx, {"conversation_id": alice_bob.pk, "body": "hi", "client_id": f"n{n}"}, None) for n, socket in enumerate(sockets))
    )
    assert trips == [2, 2, 1]
    assert [socket.sent[0]["data"]["message"]["client_id"] for socket in sockets] == ["n0", "n1", "n2", "n3", "n4"]
    assert await sync_to_async(Message.objects.count)() == 5
