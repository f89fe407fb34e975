"""Drain on SIGTERM against real daphne processes (docs/protocol.md §5 Drain)."""

from __future__ import annotations

import signal
import time

from messaging.protocol import MessagingClientFrame, MessagingServerFrame
from presence.protocol import PresenceServerFrame
from realtime.protocol import CloseCode, GoawayReason, ServerFrame
from tests.support.messaging import direct, send
from tests.support.operations import http_json
from tests.support.presence import connect, presence_events_until_pong
from tests.support.realtime import (
    authenticate,
    closed_with,
    next_frame,
    open_socket,
    send_frame,
)

DRAIN = 2.0  # seconds of the drain window in these tests
EXIT_BOUND = DRAIN + 5 + 5  # the contract's bound plus the test's own slack for a loaded machine


def goaway_then_close(ws) -> tuple[dict, int]:
    """Return the socket's `goaway` frame and the close code after it."""
    frame = next_frame(ws, ServerFrame.GOAWAY, timeout=DRAIN + 5)
    return frame, closed_with(ws)


def wait_until_draining(server) -> dict:
    deadline = time.monotonic() + 5
    while True:
        status, body = http_json(server, "/readyz")
        if status == 503:
            return body
        assert time.monotonic() < deadline, "readyz never turned 503"
        time.sleep(0.02)


def test_sigterm_turns_readyz_503_refuses_new_sockets_and_closes_each_socket_after_goaway(socket_opener, daphne_server, alice, bob, device_of):
    server = daphne_server(DEDWEN_DRAIN_SECONDS=str(DRAIN))
    sockets = [socket_opener(server) for _ in range(4)]
    for ws, user in zip(sockets, (alice, bob, alice, bob)):
        authenticate(ws, device_of(user).token)
    server.process.send_signal(signal.SIGTERM)
    assert wait_until_draining(server)["status"] == "draining"

    late = socket_opener(server)
    frame, code = goaway_then_close(late)
    assert frame["data"]["reason"] == GoawayReason.DRAINING and code == CloseCode.GOING_AWAY

    for ws in sockets:
        frame, code = goaway_then_close(ws)
        assert frame["data"]["reason"] == GoawayReason.DRAINING
        assert 0 <= frame["data"]["reconnect_after_ms"] <= DRAIN * 1000
        assert code == CloseCode.GOING_AWAY
    assert server.process.wait(timeout=EXIT_BOUND) == 0
    log = server.log()
    assert "draining: 4 sockets" in log and "every socket is closed" in log


def test_a_message_sent_during_the_drain_reaches_the_recipient_live_or_by_sync_exactly_once(
    socket_opener, daphne_server, alice, bob, device_of
):
    conversation = direct(alice, bob)
    draining = daphne_server(DEDWEN_DRAIN_SECONDS=str(DRAIN))
    other = daphne_server()
    alice_ws = socket_opener(draining)
    authenticate(alice_ws, device_of(alice).token)
    bob_ws = socket_opener(other)
    authenticate(bob_ws, device_of(bob).token)

    received: dict[int, int] = {}
    draining.process.send_signal(signal.SIGTERM)
    sent_ids = []
    for n in range(5):  # bob sends while alice's process drains
        send_frame(bob_ws, MessagingClientFrame.MESSAGE_SEND, {"conversation_id": conversation.pk, "body": f"m{n}", "client_id": f"drain-{n}"}, ref=str(n))
        sent_ids.append(next_frame(bob_ws, ServerFrame.ACK)["data"]["message"]["id"])
    while True:  # alice reads what arrives live until her goaway
        frame = next_frame(alice_ws, timeout=DRAIN + 5)
        if frame["type"] == ServerFrame.GOAWAY:
            break
        if frame["type"] == MessagingServerFrame.MESSAGE_NEW:
            received[frame["data"]["message"]["id"]] = received.get(frame["data"]["message"]["id"], 0) + 1
    assert closed_with(alice_ws) == CloseCode.GOING_AWAY
    last_seen = max(received, default=sent_ids[0] - 1)  # the client syncs from the last id it saw

    later = send(bob, conversation, "after the goaway").pk  # stored while alice is away
    again = socket_opener(other)
    authenticate(again, device_of(alice).token)
    send_frame(again, MessagingClientFrame.SYNC, {"after": last_seen}, ref="s")
    while True:
        frame = next_frame(again)
        if frame["type"] == MessagingServerFrame.SYNC_DONE:
            break
        if frame["type"] == MessagingServerFrame.MESSAGE_NEW:
            received[frame["data"]["message"]["id"]] = received.get(frame["data"]["message"]["id"], 0) + 1
    for message_id in [*sent_ids, later]:
        assert received.get(message_id) == 1, (message_id, received)


def test_a_user_drained_to_another_process_within_the_grace_is_announced_nothing(
    redis_url, daphne_server, alice, bob, login
):
    direct(alice, bob)
    draining = daphne_server(DEDWEN_DRAIN_SECONDS=str(DRAIN), DEDWEN_PRESENCE_GRACE="5")
    other = daphne_server(DEDWEN_PRESENCE_GRACE="5")
    alice_session = login(alice)
    with open_socket(other) as bob_ws, open_socket(draining) as alice_ws:
        connect(bob_ws, login(bob))
        connect(alice_ws, alice_session)
        assert next_frame(bob_ws, PresenceServerFrame.PRESENCE)["data"]["user_id"] == alice.pk  # online

        draining.process.send_signal(signal.SIGTERM)
        goaway, code = goaway_then_close(alice_ws)  # as the web client does: come back when told, elsewhere
        assert code == CloseCode.GOING_AWAY
        time.sleep(goaway["data"]["reconnect_after_ms"] / 1000)  # the delay the server chose, not a hope
        with open_socket(other) as alice_back:
            connect(alice_back, alice_session)
            assert draining.process.wait(timeout=EXIT_BOUND) == 0
            assert presence_events_until_pong(bob_ws) == []  # neither offline nor online again
