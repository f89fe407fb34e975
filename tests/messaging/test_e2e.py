"""Messaging end to end: real `websockets` clients against daphne processes."""

from __future__ import annotations

import itertools

from messaging.protocol import MessagingClientFrame, MessagingServerFrame
from realtime.protocol import ClientFrame, ServerFrame
from tests.support.realtime import authenticate, next_frame, open_socket, send_frame

_refs = itertools.count(1)


def send_message(ws, conversation, body: str) -> dict:
    """Send a message over the socket and return the acknowledged message (other frames are skipped)."""
    ref = f"send-{next(_refs)}"
    send_frame(ws, MessagingClientFrame.MESSAGE_SEND, {"conversation_id": conversation.pk, "body": body, "client_id": ref}, ref)
    while (frame := next_frame(ws))["type"] != ServerFrame.ACK or frame.get("ref") != ref:
        assert frame["type"] != ServerFrame.ERROR, frame
    return frame["data"]["message"]


def delivered(ws, message_id: int) -> dict:
    """Wait (bounded) for the `message.new` of one message; return its data (other frames are skipped)."""
    while True:
        frame = next_frame(ws, MessagingServerFrame.MESSAGE_NEW)
        if frame["data"]["message"]["id"] == message_id:
            return frame["data"]


def test_a_message_is_acknowledged_to_its_socket_and_delivered_live_to_every_other_socket_of_both_users(
    daphne_server, alice, bob, alice_bob, login
):
    server = daphne_server()
    with open_socket(server) as alice_ws, open_socket(server) as alice_tablet, open_socket(server) as bob_ws:
        authenticate(alice_ws, login(alice).token)
        authenticate(alice_tablet, login(alice).token)
        authenticate(bob_ws, login(bob).token)
        send_frame(
            alice_ws, MessagingClientFrame.MESSAGE_SEND, {"conversation_id": alice_bob.pk, "body": "hi bob", "client_id": "e2e-1"}, "m"
        )
        ack = next_frame(alice_ws, ServerFrame.ACK)
        message = ack["data"]["message"]
        assert message["body"] == "hi bob" and ack["ref"] == "m"
        expected = {"conversation_id": alice_bob.pk, "message": message}
        assert next_frame(alice_tablet, MessagingServerFrame.MESSAGE_NEW)["data"] == expected
        assert next_frame(bob_ws, MessagingServerFrame.MESSAGE_NEW)["data"] == expected
        send_frame(alice_ws, ClientFrame.PING, {}, "fence")
        while (frame := next_frame(alice_ws))["type"] != ServerFrame.PONG:
            assert frame["type"] != MessagingServerFrame.MESSAGE_NEW, frame  # the ack carried it


def test_a_client_that_missed_three_messages_recovers_exactly_those_in_order_with_sync(
    daphne_server, alice, bob, alice_bob, login
):
    server = daphne_server()
    bob_session = login(bob)
    with open_socket(server) as alice_ws:
        authenticate(alice_ws, login(alice).token)
        with open_socket(server) as bob_ws:
            authenticate(bob_ws, bob_session.token)
            seen = send_message(alice_ws, alice_bob, "before the tunnel")
            assert next_frame(bob_ws, MessagingServerFrame.MESSAGE_NEW)["data"]["message"]["id"] == seen["id"]
        missed = [send_message(alice_ws, alice_bob, f"missed {n}") for n in (1, 2, 3)]

        with open_socket(server) as bob_ws:
            authenticate(bob_ws, bob_session.token)
            send_frame(bob_ws, MessagingClientFrame.SYNC, {"after": seen["id"]}, "sync-1")
            recovered = []
            while (frame := next_frame(bob_ws))["type"] != MessagingServerFrame.SYNC_DONE:
                if frame["type"] == MessagingServerFrame.MESSAGE_NEW:
                    recovered.append(frame["data"]["message"])
            assert recovered == missed
            assert frame == {"type": MessagingServerFrame.SYNC_DONE, "data": {"last_id": missed[-1]["id"], "more": False}, "ref": "sync-1"}


def test_sync_pages_of_dedwen_sync_batch_walk_more_messages_than_one_page_exactly_once(
    daphne_server, alice, bob, alice_bob, login
):
    server = daphne_server(DEDWEN_SYNC_BATCH="4")
    bob_session = login(bob)
    with open_socket(server) as alice_ws:
        authenticate(alice_ws, login(alice).token)
        missed = [send_message(alice_ws, alice_bob, f"missed {n}") for n in range(10)]  # pages of 4, 4, 2

    with open_socket(server) as bob_ws:
        authenticate(bob_ws, bob_session.token)
        after, recovered, pages = 0, [], []
        while True:
            send_frame(bob_ws, MessagingClientFrame.SYNC, {"after": after}, f"sync-{len(pages)}")
            page = []
            while (frame := next_frame(bob_ws))["type"] != MessagingServerFrame.SYNC_DONE:
                if frame["type"] == MessagingServerFrame.MESSAGE_NEW:
                    page.append(frame["data"]["message"])
            assert frame["ref"] == f"sync-{len(pages)}"
            pages.append(len(page))
            recovered += page
            after = frame["data"]["last_id"]
            if not frame["data"]["more"]:
                break
        assert pages == [4, 4, 2]
        assert recovered == missed
        assert after == missed[-1]["id"]


def test_with_redis_delivery_crosses_daphne_processes(redis_url, daphne_server, alice, bob, alice_bob, login):
    first, second = daphne_server(), daphne_server()
    alice_session, bob_session = login(alice), login(bob)
    with open_socket(first) as alice_ws, open_socket(second) as alice_other_ws, open_socket(second) as bob_ws:
        authenticate(alice_ws, alice_session.token)
        authenticate(alice_other_ws, login(alice).token)
        authenticate(bob_ws, bob_session.token)
        message = send_message(alice_ws, alice_bob, "across processes")
        expected = {"conversation_id": alice_bob.pk, "message": message}
        assert next_frame(bob_ws, MessagingServerFrame.MESSAGE_NEW)["data"] == expected
        assert next_frame(alice_other_ws, MessagingServerFrame.MESSAGE_NEW)["data"] == expected

        # A send over REST in this process reaches both daphne processes too.
        response = bob_session.bearer().post(
            f"/api/conversations/{alice_bob.pk}/messages/", {"body": "over REST", "client_id": "rest-1"}, format="json"
        )
        assert response.status_code == 201
        over_rest = response.json()
        assert delivered(alice_ws, over_rest["id"])["message"] == over_rest
        assert delivered(alice_other_ws, over_rest["id"])["message"] == over_rest
