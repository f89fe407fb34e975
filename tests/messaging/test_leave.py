"""Leaving a group (docs/protocol.md, "Leaving a group"): 204, 409 for a direct conversation, and nothing more from it."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from messaging import realtime, services
from messaging.models import Membership
from messaging.protocol import MessagingClientFrame, MessagingServerFrame
from presence.runtime import publish_transitions
from presence.circles import circle_of
from presence.stores import Transitions, get_store
from realtime.protocol import (
    ClientFrame,
    ErrorCode,
    ServerFrame,
    user_group,
)
from tests.support.messaging import send
from tests.support.realtime import refusal_of, socket_client

TYPING = realtime.SOCKET_APP.handlers[MessagingClientFrame.TYPING]
SYNC = realtime.SOCKET_APP.handlers[MessagingClientFrame.SYNC]


@pytest.fixture
def trio(alice, bob, carol):
    """A group of alice, bob and carol."""
    return services.create_conversation(creator=alice, participant_ids=[bob.pk, carol.pk], title="trio").conversation


def leave(client, conversation):
    return client.post(f"/api/conversations/{conversation.pk}/leave/")


# REST ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_leaving_a_group_answers_204_and_the_group_is_gone_for_the_leaver_only(alice, carol, trio, api):
    response = leave(api(carol), trio)
    assert response.status_code == 204 and response.content == b""
    assert Membership.objects.get(conversation=trio, user=carol).left_at is not None

    assert api(carol).get("/api/conversations/").json() == []
    assert api(carol).get(f"/api/conversations/{trio.pk}/messages/").status_code == 404
    posted = api(carol).post(f"/api/conversations/{trio.pk}/messages/", {"body": "hi", "client_id": "c"}, format="json")
    assert posted.status_code == 404 and posted.json()["error"]["code"] == "not_found"
    [listed] = api(alice).get("/api/conversations/").json()
    assert [person["username"] for person in listed["participants"]] == ["alice", "bob"]


@pytest.mark.django_db
def test_leaving_twice_or_a_conversation_one_is_not_in_is_404(alice, bob, carol, alice_bob, trio, api):
    assert leave(api(carol), trio).status_code == 204
    again = leave(api(carol), trio)
    assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"
    assert leave(api(carol), alice_bob).status_code == 404
    assert api(carol).post("/api/conversations/999999/leave/").status_code == 404


@pytest.mark.django_db
def test_a_direct_conversation_cannot_be_left_409(alice, alice_bob, api):
    response = leave(api(alice), alice_bob)
    assert response.status_code == 409
    assert response.json()["error"] == {"code": "conflict", "message": "A direct conversation cannot be left."}
    assert Membership.objects.filter(conversation=alice_bob, left_at__isnull=True).count() == 2


@pytest.mark.django_db
def test_leaving_needs_an_authenticated_user(trio):
    from rest_framework.test import APIClient

    assert APIClient().post(f"/api/conversations/{trio.pk}/leave/").status_code in (401, 403)


# Nothing more from it -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_after_leaving_no_message_read_or_notification_is_published_to_the_leaver(alice, bob, carol, trio, api, broadcasts):
    leave(api(carol), trio)
    with broadcasts() as sent:
        message = send(alice, trio, "after carol left")
        api(bob).post(f"/api/conversations/{trio.pk}/read/", {"message_id": message.pk}, format="json")
    assert user_group(carol.pk) not in sent.groups()
    assert {user_group(alice.pk), user_group(bob.pk)} <= set(sent.groups())


@pytest.mark.django_db(transaction=True)
async def test_after_leaving_sync_replays_nothing_from_the_group(alice, carol, trio, socket_of):
    before = await sync_to_async(send)(alice, trio, "before")
    await sync_to_async(services.leave_conversation)(user=carol, conversation=trio)
    await sync_to_async(send)(alice, trio, "after")
    socket = socket_of(carol)
    await SYNC(socket.ctx, {"after": before.pk - 1}, None)
    assert socket.sent == [{"type": MessagingServerFrame.SYNC_DONE, "data": {"last_id": before.pk - 1, "more": False}}]


@pytest.mark.django_db(transaction=True)
async def test_leaving_stops_typing_at_once_on_this_process_even_with_the_participants_cached(
    alice, bob, carol, trio, socket_of, broadcasts
):
    await TYPING(socket_of(alice).ctx, {"conversation_id": trio.pk}, None)  # caches alice, bob, carol
    assert realtime.participants.get(trio.pk) == (alice.pk, bob.pk, carol.pk)
    await sync_to_async(services.leave_conversation)(user=carol, conversation=trio)
    assert realtime.participants.get(trio.pk) is None

    with broadcasts() as sent:
        await TYPING(socket_of(alice).ctx, {"conversation_id": trio.pk}, None)
    assert sent.groups() == [user_group(bob.pk)]
    refusal = await refusal_of(TYPING, socket_of(carol).ctx, {"conversation_id": trio.pk}, None)
    assert refusal.code == ErrorCode.NOT_FOUND


@pytest.mark.django_db(transaction=True)
async def test_after_leaving_presence_no_longer_flows_through_the_group(alice, bob, carol, trio, announcements):
    assert set((await sync_to_async(circle_of)(user_id=carol.pk)).contacts) == {alice.pk, bob.pk}
    await sync_to_async(services.leave_conversation)(user=carol, conversation=trio)
    assert (await sync_to_async(circle_of)(user_id=carol.pk)).contacts == {}
    assert set((await sync_to_async(circle_of)(user_id=alice.pk)).contacts) == {bob.pk}
    announcements.sent.clear()  # the leave itself tells former contacts (tests/presence/test_idle_and_visibility.py)

    await publish_transitions(get_store(), Transitions(offline={alice.pk, carol.pk}))

    assert announcements.groups() == [user_group(bob.pk)]  # alice's change reaches bob; carol's reaches nobody
    assert [frame["data"]["user_id"] for frame in announcements.frames()] == [alice.pk]


@pytest.mark.django_db(transaction=True)
async def test_a_live_socket_of_the_leaver_receives_nothing_more_from_the_group(alice, bob, carol, trio, login):
    tokens = {user.username: (await sync_to_async(login)(user)).token for user in (alice, bob, carol)}
    async with socket_client() as alice_socket, socket_client() as bob_socket, socket_client() as carol_socket:
        for client, name in ((alice_socket, "alice"), (bob_socket, "bob"), (carol_socket, "carol")):
            await client.authenticate(tokens[name])
        await alice_socket.send_frame(MessagingClientFrame.TYPING, {"conversation_id": trio.pk})
        assert (await carol_socket.next_frame(MessagingServerFrame.TYPING))["data"]["user_id"] == alice.pk

        await sync_to_async(services.leave_conversation)(user=carol, conversation=trio)
        await alice_socket.send_frame(MessagingClientFrame.TYPING, {"conversation_id": trio.pk})
        await alice_socket.send_frame(
            MessagingClientFrame.MESSAGE_SEND, {"conversation_id": trio.pk, "body": "carol left", "client_id": "l"}, ref="m"
        )
        message = (await bob_socket.next_frame(MessagingServerFrame.MESSAGE_NEW))["data"]["message"]
        await bob_socket.send_frame(MessagingClientFrame.MESSAGE_READ, {"conversation_id": trio.pk, "message_id": message["id"]})
        assert (await alice_socket.next_frame(MessagingServerFrame.MESSAGE_READ))["data"]["user_id"] == bob.pk

        await carol_socket.send_frame(ClientFrame.PING, {}, ref="fence")
        received = []
        while (frame := await carol_socket.next_frame())["type"] != ServerFrame.PONG:
            received.append(frame["type"])
        assert not {MessagingServerFrame.TYPING, MessagingServerFrame.MESSAGE_NEW, MessagingServerFrame.MESSAGE_READ, MessagingServerFrame.NOTIFICATION} & set(
            received
        )
