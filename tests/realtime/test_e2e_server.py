"""The protocol server's own limits against a real daphne, seen through raw sockets.

Over-long HTTP requests are answered readably; a client that stops reading is closed with 4409
while a reading one is unaffected (realtime/server.py).
"""

from __future__ import annotations

import socket

import pytest

from messaging.protocol import MessagingClientFrame, MessagingServerFrame
from realtime.protocol import ClientFrame, CloseCode, ServerFrame
from realtime.server import SocketProtocol
from tests.support.messaging import direct
from tests.support.realtime import (
    WAIT,
    authenticate,
    encode,
    next_frame,
    open_socket,
    send_frame,
)
from tests.support.server import read_until_close_frame, send_text_frame, stalled_socket


def http_answer(server, request: bytes, *, timeout: float = WAIT) -> bytes:
    """Send raw request bytes; return everything the server answers until it closes (a reset fails the test)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", b"414"),
        (b"GET /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n", b"431"),
        (
            b"GET /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + b"".join(b"X-H%d: %s\r\n" % (n, b"a" * 1000) for n in range(20))
            + b"\r\n",
            b"400",
        ),
    ],
    ids=["a 20 KB request line", "a 20 KB header", "20 KB of headers"],
)
def test_a_request_over_the_servers_limits_gets_an_answer_the_client_reads_before_the_close(
    daphne_server, request_bytes, status
):
    server = daphne_server()
    answer = http_answer(server, request_bytes + b"trailing bytes the server never parses" * 100)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == status, answer[:200]
    assert body.startswith(b'{"error": {"code": ')
    assert http_answer(server, b"GET /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").startswith(
        b"HTTP/1.1 200"
    )


def test_a_client_that_stops_reading_is_closed_4409_and_a_reading_one_is_unaffected(
    daphne_server, alice, bob, device_of
):
    server = daphne_server(
        DEDWEN_WS_SEND_BUFFER="65536", DEDWEN_MESSAGE_MAX_LENGTH="30000", DEDWEN_WS_RATE="100000/100000"
    )
    conversation = direct(alice, bob)
    alices, bobs = device_of(alice), device_of(bob)
    stalled = stalled_socket(server)
    send_text_frame(stalled, encode(ClientFrame.AUTHENTICATE, {"token": alices.token}))
    server.wait_for_log(f"[WebSocket] User {alice.pk} authenticated and connected")
    with stalled, open_socket(server) as reader, open_socket(server) as sender:
        authenticate(reader, alices.token)
        authenticate(sender, bobs.token)
        body = "x" * 30_000
        for n in range(400):  # at most 12 MB towards the stalled socket: far past its buffer and the kernel's
            send_frame(sender, MessagingClientFrame.MESSAGE_SEND, {"conversation_id": conversation.pk, "body": body, "client_id": f"m{n}"}, ref=str(n))
            next_frame(sender, ServerFrame.ACK)
            assert next_frame(reader, MessagingServerFrame.MESSAGE_NEW)["data"]["message"]["client_id"] == f"m{n}"
            if "[WebSocket] Closing a slow reader with 4409" in server.log():
                break
        log = server.wait_for_log("[WebSocket] Closing a slow reader with 4409")
        frames, code = read_until_close_frame(stalled)  # the close frame waits behind what was queued
        assert code == CloseCode.SLOW_READER, (frames, code)
        server.wait_for_log(f"[WebSocket] Connection closed for user {alice.pk}: code=4409")
        assert log.count("Closing a slow reader") == 1  # the reading socket was not closed
        send_frame(reader, ClientFrame.PING, {}, ref="alive")
        assert next_frame(reader, ServerFrame.PONG)["ref"] == "alive"


@pytest.mark.parametrize("state", ["closing", "closed"])
def test_a_frame_for_a_client_already_leaving_is_dropped_instead_of_raising(state):
    # Under connect churn a client closes while its socket still has frames for it (the presence
    # snapshot after `authenticated`): autobahn raised Disconnected, which daphne logged as an error.
    protocol = SocketProtocol.__new__(SocketProtocol)  # no connection: only the send path runs
    protocol.state = {"closing": SocketProtocol.STATE_CLOSING, "closed": SocketProtocol.STATE_CLOSED}[state]
    protocol.client_addr = ["127.0.0.1", 50000]
    protocol.transport = None
    protocol.serverSend('{"type":"presence.snapshot","data":{"users":[]}}')
