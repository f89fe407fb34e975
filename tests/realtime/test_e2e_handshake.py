"""The handshake against a real daphne process, seen by a non-browser client."""

from realtime.protocol import ClientFrame, CloseCode, ServerFrame
from tests.support.realtime import (
    authenticate,
    closed_with,
    next_frame,
    open_socket,
    send_frame,
)


def test_a_valid_first_frame_authenticates_the_socket_and_ping_gets_pong(daphne_server, alice, login):
    server = daphne_server()
    session = login(alice)
    with open_socket(server) as ws:
        server.wait_for_log("[WebSocket] Connection established, awaiting JWT authentication...")
        hello = authenticate(ws, session.token)
        assert hello["data"]["user"] == {"id": alice.pk, "username": "alice"}
        assert hello["data"]["device_id"] == session.device_id
        assert hello["data"]["expires_at"].endswith("Z")
        server.wait_for_log(f"[WebSocket] User {alice.pk} authenticated and connected")
        send_frame(ws, ClientFrame.PING, {}, ref="p1")
        assert next_frame(ws, ServerFrame.PONG) == {"type": "pong", "data": {}, "ref": "p1"}
    server.wait_for_log(f"[WebSocket] Connection closed for user {alice.pk}: code=")


def test_no_authenticate_within_the_timeout_closes_4408(daphne_server):
    server = daphne_server(DEDWEN_WS_AUTH_TIMEOUT="0.5")
    with open_socket(server) as ws:
        assert closed_with(ws) == CloseCode.AUTH_TIMEOUT
