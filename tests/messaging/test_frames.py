"""Messaging frame handlers (docs/protocol.md, section 3), called directly on a fake socket."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings

from messaging import realtime
from messaging.models import Membership, Message
from messaging.protocol import MessagingClientFrame, MessagingServerFrame
from realtime import db, registry
from realtime.protocol import ErrorCode, ServerFrame, user_group
from tests.support.messaging import direct, send
from tests.support.realtime import refusal_of

pytestmark = pytest.mark.django_db(transaction=True)

SEND = realtime.SOCKET_APP.handlers[MessagingClientFrame.MESSAGE_SEND]
READ = realtime.SOCKET_APP.handlers[MessagingClientFrame.MESSAGE_READ]
TYPING = realtime.SOCKET_APP.handlers[MessagingClientFrame.TYPING]
SYNC = realtime.SOCKET_APP.handlers[MessagingClientFrame.SYNC]

count_messages = sync_to_async(Message.objects.count)


def types(sent, user) -> list[str]:
    return [frame["type"] for frame in sent.frames(user_group(user.pk))]


def test_every_messaging_frame_has_a_handler_in_the_socket_app_it_registers():
    assert set(realtime.SOCKET_APP.handlers) == set(MessagingClientFrame)
    assert registry.handler_for(MessagingClientFrame.SYNC) is realtime.sync


# message.send -------------------------------------------------------------------------------------


async def test_send_is_acknowledged_with_the_message_and_published_to_every_participant(
    alice, bob, carol, alice_bob, socket_of, broadcasts
):
    socket = socket_of(alice)
    with broadcasts() as sent:
        await SEND(socket.ctx, {"conversation_id": alice_bob.pk, "body": "hi", "client_id": "w-1"}, "r1")
    [ack] = socket.sent
    assert ack["type"] == ServerFrame.ACK and ack["ref"] == "r1"
    message = ack["data"]["message"]
    assert message["body"] == "hi" and message["client_id"] == "w-1" and message["sender"]["id"] == alice.pk
    new = {"type": MessagingServerFrame.MESSAGE_NEW, "data": {"conversation_id": alice_bob.pk, "message": message}}
    assert sent.frames(user_group(alice.pk)) == [new]  # her other devices too
    assert sent.frames(user_group(bob.pk))[0] == new
    assert types(sent, bob) == [MessagingServerFrame.MESSAGE_NEW, MessagingServerFrame.NOTIFICATION]
    assert types(sent, carol) == []


async def test_the_same_client_id_twice_stores_one_message_and_publishes_once(alice, alice_bob, socket_of, broadcasts):
    socket = socket_of(alice)
    data = {"conversation_id": alice_bob.pk, "body": "once", "client_id": "dup"}
    with broadcasts() as sent:
        await SEND(socket.ctx, data, "first")
        await SEND(socket.ctx, data, "retry")
    first, retry = socket.sent
    assert first["data"] == retry["data"] and retry["ref"] == "retry"
    assert await count_messages() == 1
    assert types(sent, alice) == [MessagingServerFrame.MESSAGE_NEW]


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"body": "x", "client_id": "c"},
        {"conversation_id": "1", "body": "x", "client_id": "c"},
        {"conversation_id": 1.0, "body": "x", "client_id": "c"},
        {"conversation_id": True, "body": "x", "client_id": "c"},
        {"conversation_id": None, "body": "x", "client_id": "c"},
        {"conversation_id": 1, "body": "", "client_id": "c"},
        {"conversation_id": 1, "body": "   ", "client_id": "c"},
        {"conversation_id": 1, "body": "x" * 11, "client_id": "c"},
        {"conversation_id": 1, "body": 5, "client_id": "c"},
        {"conversation_id": 1, "body": {"text": "x"}, "client_id": "c"},
        {"conversation_id": 1, "body": "x"},
        {"conversation_id": 1, "body": "x", "client_id": ""},
        {"conversation_id": 1, "body": "x", "client_id": 3},
    ],
)
@override_settings(DEDWEN_MESSAGE_MAX_LENGTH=10)
async def test_invalid_sends_are_refused_and_nothing_is_stored(alice, alice_bob, socket_of, broadcasts, data):
    socket = socket_of(alice)
    with broadcasts() as sent:
        refusal = await refusal_of(SEND, socket.ctx, data)
    assert refusal.code == ErrorCode.INVALID
    assert socket.sent == [] and sent.sent == []
    assert await count_messages() == 0


async def test_carol_cannot_send_to_alice_and_bob(carol, alice_bob, socket_of, broadcasts):
    socket = socket_of(carol)
    with broadcasts() as sent:
        refusal = await refusal_of(SEND, socket.ctx, {"conversation_id": alice_bob.pk, "body": "hi", "client_id": "c"})
    assert refusal.code == ErrorCode.NOT_FOUND
    assert sent.sent == [] and await count_messages() == 0


async def test_sending_to_an_unknown_conversation_is_not_found(alice, socket_of):
    for conversation_id in (987654, 2**63 - 1):
        refusal = await refusal_of(SEND, socket_of(alice).ctx, {"conversation_id": conversation_id, "body": "x", "client_id": "c"})
        assert refusal.code == ErrorCode.NOT_FOUND


async def test_a_database_failure_while_sending_publishes_nothing(alice, alice_bob, socket_of, broadcasts, messages_unstorable):
    messages_unstorable()
    socket = socket_of(alice)
    with broadcasts() as sent, pytest.raises(db.Unavailable):
        await SEND(socket.ctx, {"conversation_id": alice_bob.pk, "body": "lost", "client_id": "c"}, "r1")
    assert socket.sent == [] and sent.sent == []
    assert await count_messages() == 0


# message.read and typing --------------------------------------------------------------------------


async def test_read_moves_the_marker_and_tells_only_the_others(alice, bob, alice_bob, socket_of, broadcasts):
    message = await sync_to_async(send)(alice, alice_bob)
    socket = socket_of(bob)
    with broadcasts() as sent:
        await READ(socket.ctx, {"conversation_id": alice_bob.pk, "message_id": message.pk}, "r1")
    read = {"conversation_id": alice_bob.pk, "user_id": bob.pk, "message_id": message.pk}
    assert sent.frames(user_group(alice.pk)) == [{"type": MessagingServerFrame.MESSAGE_READ, "data": read}]
    assert types(sent, bob) == []
    assert socket.sent == [
        {"type": ServerFrame.ACK, "data": {"conversation_id": alice_bob.pk, "message_id": message.pk}, "ref": "r1"}
    ]
    marker = await sync_to_async(Membership.objects.get)(conversation=alice_bob, user=bob)
    assert marker.last_read_id == message.pk


async def test_read_refuses_foreign_conversations_foreign_messages_and_bad_types(
    alice, bob, carol, alice_bob, socket_of, broadcasts
):
    message = await sync_to_async(send)(alice, alice_bob)
    elsewhere = await sync_to_async(send)(carol, await sync_to_async(direct)(carol, bob))
    cases = [
        (carol, {"conversation_id": alice_bob.pk, "message_id": message.pk}, ErrorCode.NOT_FOUND),
        (alice, {"conversation_id": alice_bob.pk, "message_id": elsewhere.pk}, ErrorCode.NOT_FOUND),
        (alice, {"conversation_id": alice_bob.pk, "message_id": "1"}, ErrorCode.INVALID),
        (alice, {"conversation_id": alice_bob.pk}, ErrorCode.INVALID),
    ]
    with broadcasts() as sent:
        for user, data, code in cases:
            assert (await refusal_of(READ, socket_of(user).ctx, data)).code == code
    assert sent.sent == []


async def test_typing_reaches_the_others_and_stores_nothing(alice, bob, carol, alice_bob, socket_of, broadcasts):
    with broadcasts() as sent:
        await TYPING(socket_of(alice).ctx, {"conversation_id": alice_bob.pk}, None)
    assert sent.frames() == [{"type": MessagingServerFrame.TYPING, "data": {"conversation_id": alice_bob.pk, "user_id": alice.pk}}]
    assert sent.groups() == [user_group(bob.pk)]
    assert await count_messages() == 0
    assert (await refusal_of(TYPING, socket_of(carol).ctx, {"conversation_id": alice_bob.pk})).code == ErrorCode.NOT_FOUND
    assert (await refusal_of(TYPING, socket_of(alice).ctx, {"conversation_id": [alice_bob.pk]})).code == ErrorCode.INVALID


# sync ---------------------------------------------------------------------------------------------


async def test_sync_replays_later_messages_of_the_users_conversations_in_id_order(
    alice, bob, carol, alice_bob, socket_of
):
    bob_carol = await sync_to_async(direct)(bob, carol)
    alice_carol = await sync_to_async(direct)(alice, carol)
    seen = await sync_to_async(send)(alice, alice_bob, "seen")
    expected = [
        await sync_to_async(send)(bob, alice_bob, "1"),
        await sync_to_async(send)(carol, alice_carol, "2"),
        await sync_to_async(send)(alice, alice_bob, "3"),
        await sync_to_async(send)(alice, alice_carol, "4"),
        await sync_to_async(send)(bob, alice_bob, "5"),
    ]
    await sync_to_async(send)(bob, bob_carol, "not alice's")

    socket = socket_of(alice)
    await SYNC(socket.ctx, {"after": seen.pk}, "s1")
    *replayed, done = socket.sent
    assert [f["type"] for f in replayed] == [MessagingServerFrame.MESSAGE_NEW] * 5
    assert [f["data"]["message"]["id"] for f in replayed] == [m.pk for m in expected]
    assert [f["data"]["conversation_id"] for f in replayed] == [m.conversation_id for m in expected]
    assert done == {"type": MessagingServerFrame.SYNC_DONE, "data": {"last_id": expected[-1].pk, "more": False}, "ref": "s1"}


@override_settings(DEDWEN_SYNC_BATCH=3)
async def test_sync_answers_at_most_one_batch_and_the_client_walks_every_message_once_with_more(
    alice, bob, alice_bob, socket_of
):
    expected = [(await sync_to_async(send)(bob, alice_bob, f"m{n}")).pk for n in range(8)]  # three pages: 3, 3, 2
    socket = socket_of(alice)
    after, pages = 0, []
    while True:
        socket.sent.clear()
        await SYNC(socket.ctx, {"after": after}, f"page-{len(pages)}")
        *replayed, done = socket.sent
        assert done["type"] == MessagingServerFrame.SYNC_DONE and done["ref"] == f"page-{len(pages)}"
        pages.append([frame["data"]["message"]["id"] for frame in replayed])
        after = done["data"]["last_id"]
        if not done["data"]["more"]:
            break
    assert pages == [expected[0:3], expected[3:6], expected[6:8]]
    assert after == expected[-1]


@override_settings(DEDWEN_SYNC_BATCH=2)
async def test_sync_of_exactly_one_full_batch_says_no_more(alice, bob, alice_bob, socket_of):
    expected = [(await sync_to_async(send)(bob, alice_bob, f"m{n}")).pk for n in range(2)]
    socket = socket_of(alice)
    await SYNC(socket.ctx, {"after": 0}, None)
    assert [frame["data"]["message"]["id"] for frame in socket.sent[:-1]] == expected
    assert socket.sent[-1] == {"type": MessagingServerFrame.SYNC_DONE, "data": {"last_id": expected[-1], "more": False}}


async def test_sync_with_nothing_new_is_just_done(alice, alice_bob, socket_of):
    last = await sync_to_async(send)(alice, alice_bob)
    socket = socket_of(alice)
    await SYNC(socket.ctx, {"after": last.pk}, None)
    assert socket.sent == [{"type": MessagingServerFrame.SYNC_DONE, "data": {"last_id": last.pk, "more": False}}]


@pytest.mark.parametrize("data", [{}, {"after": "3"}, {"after": -1}, {"after": 1.5}, {"after": None}])
async def test_sync_refuses_a_bad_cursor(alice, socket_of, data):
    assert (await refusal_of(SYNC, socket_of(alice).ctx, data)).code == ErrorCode.INVALID
