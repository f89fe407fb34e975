"""Messaging frames through the real consumer (in process): who receives what, and errors keep the socket open."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from messaging.models import Message
from messaging.protocol import MessagingClientFrame, MessagingServerFrame
from realtime.protocol import ClientFrame, ErrorCode, ServerFrame
from tests.support.realtime import socket_client

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tokens(alice, bob, carol, login):
    """Access tokens of the cast, each for a device of its own."""
    return {user.username: login(user).token for user in (alice, bob, carol)}


MESSAGING_FRAMES = {MessagingServerFrame.MESSAGE_NEW, MessagingServerFrame.MESSAGE_READ, MessagingServerFrame.TYPING, MessagingServerFrame.NOTIFICATION}


async def messaging_frames_before_pong(client) -> list[dict]:
    """Ping, and return the messaging frames the socket received before the pong (presence is skipped)."""
    await client.send_frame(ClientFrame.PING, {}, ref="fence")
    received = []
    while (frame := await client.next_frame())["type"] != ServerFrame.PONG:
        if frame["type"] in MESSAGING_FRAMES:
            received.append(frame)
    return received


async def test_a_sent_message_reaches_every_socket_of_both_users_and_no_one_else(alice_bob, tokens):
    async with (
        socket_client() as alice_phone,
        socket_client() as alice_laptop,
        socket_client() as bob,
        socket_client() as carol,
    ):
        for client, name in ((alice_phone, "alice"), (alice_laptop, "alice"), (bob, "bob"), (carol, "carol")):
            await client.authenticate(tokens[name])
        await alice_phone.send_frame(
            MessagingClientFrame.MESSAGE_SEND, {"conversation_id": alice_bob.pk, "body": "hello", "client_id": "s-1"}, ref="m1"
        )
        ack = await alice_phone.next_frame(ServerFrame.ACK)
        message = ack["data"]["message"]
        assert ack["ref"] == "m1" and message["body"] == "hello"
        expected = {"conversation_id": alice_bob.pk, "message": message}
        assert (await alice_laptop.next_frame(MessagingServerFrame.MESSAGE_NEW))["data"] == expected
        assert (await bob.next_frame(MessagingServerFrame.MESSAGE_NEW))["data"] == expected
        notification = await bob.next_frame(MessagingServerFrame.NOTIFICATION)
        assert notification["data"]["data"] == {"conversation_id": alice_bob.pk, "message_id": message["id"]}
        assert await messaging_frames_before_pong(carol) == []
        assert await messaging_frames_before_pong(alice_phone) == []  # the ack carried the message


async def test_a_retried_send_is_acknowledged_again_but_delivered_once(alice_bob, tokens):
    data = {"conversation_id": alice_bob.pk, "body": "once", "client_id": "retry"}
    async with socket_client() as alice, socket_client() as bob:
        await alice.authenticate(tokens["alice"])
        await bob.authenticate(tokens["bob"])
        await alice.send_frame(MessagingClientFrame.MESSAGE_SEND, data, ref="1")
        first = (await alice.next_frame(ServerFrame.ACK))["data"]["message"]
        await alice.send_frame(MessagingClientFrame.MESSAGE_SEND, data, ref="2")
        again = await alice.next_frame(ServerFrame.ACK)
        assert again["ref"] == "2" and again["data"]["message"] == first
        await alice.send_frame(MessagingClientFrame.MESSAGE_SEND, {**data, "body": "next", "client_id": "fence"}, ref="3")
        delivered = [(await bob.next_frame(MessagingServerFrame.MESSAGE_NEW))["data"]["message"]["body"] for _ in range(2)]
        assert delivered == ["once", "next"]  # not "once" twice
    assert await sync_to_async(Message.objects.count)() == 2


async def test_refused_frames_answer_an_error_and_the_socket_stays_open(alice_bob, tokens):
    async with socket_client() as carol:
        await carol.authenticate(tokens["carol"])
        await carol.send_frame(
            MessagingClientFrame.MESSAGE_SEND, {"conversation_id": alice_bob.pk, "body": "hi", "client_id": "c"}, ref="x"
        )
        error = await carol.next_frame(ServerFrame.ERROR)
        assert error["ref"] == "x" and error["data"]["code"] == ErrorCode.NOT_FOUND
        await carol.send_frame(MessagingClientFrame.MESSAGE_SEND, {"conversation_id": alice_bob.pk, "body": ""}, ref="y")
        error = await carol.next_frame(ServerFrame.ERROR)
        assert error["ref"] == "y" and error["data"]["code"] == ErrorCode.INVALID
        await carol.send_frame(ClientFrame.PING, {}, ref="p")
        assert (await carol.next_frame(ServerFrame.PONG))["ref"] == "p"
    assert await sync_to_async(Message.objects.count)() == 0


async def test_a_database_failure_while_sending_answers_unavailable_and_delivers_nothing(alice_bob, tokens, messages_unstorable, monkeypatch):
    async with socket_client() as alice, socket_client() as bob:
        await alice.authenticate(tokens["alice"])
        await bob.authenticate(tokens["bob"])
        messages_unstorable()
        await alice.send_frame(
            MessagingClientFrame.MESSAGE_SEND, {"conversation_id": alice_bob.pk, "body": "lost", "client_id": "c"}, ref="m"
        )
        frame = await alice.next_frame()
        while frame["type"] not in (ServerFrame.ERROR, ServerFrame.ACK, MessagingServerFrame.MESSAGE_NEW):
            frame = await alice.next_frame()
        assert frame["type"] == ServerFrame.ERROR and frame["ref"] == "m"
        assert frame["data"]["code"] == ErrorCode.UNAVAILABLE
        assert await messaging_frames_before_pong(bob) == []
    monkeypatch.undo()
    assert await sync_to_async(Message.objects.count)() == 0


async def test_read_markers_and_typing_reach_the_other_participant(alice, bob, alice_bob, tokens):
    async with socket_client() as alice_socket, socket_client() as bob_socket:
        await alice_socket.authenticate(tokens["alice"])
        await bob_socket.authenticate(tokens["bob"])
        await alice_socket.send_frame(MessagingClientFrame.TYPING, {"conversation_id": alice_bob.pk})
        typing = await bob_socket.next_frame(MessagingServerFrame.TYPING)
        assert typing["data"] == {"conversation_id": alice_bob.pk, "user_id": alice.pk}
        await alice_socket.send_frame(
            MessagingClientFrame.MESSAGE_SEND, {"conversation_id": alice_bob.pk, "body": "read me", "client_id": "r"}, ref="s"
        )
        message = (await bob_socket.next_frame(MessagingServerFrame.MESSAGE_NEW))["data"]["message"]
        await bob_socket.send_frame(MessagingClientFrame.MESSAGE_READ, {"conversation_id": alice_bob.pk, "message_id": message["id"]})
        read = await alice_socket.next_frame(MessagingServerFrame.MESSAGE_READ)
        assert read["data"] == {"conversation_id": alice_bob.pk, "user_id": bob.pk, "message_id": message["id"]}
