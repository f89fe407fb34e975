"""/ws/ from outside: real daphne processes and a real WebSocket client (the `websockets` library)."""

from __future__ import annotations

import json
import os
import time
import urllib.request

import pytest
from websockets.exceptions import InvalidStatus

from accounts.models import Device
from realtime.protocol import ClientFrame, CloseCode, ErrorCode, ServerFrame
from tests.accounts.bad_tokens import claims_of, forge
from tests.support.realtime import (
    authenticate,
    closed_with,
    next_frame,
    open_socket,
    send_frame,
)
from tests.support.waiting import until


def close_code_of(server, *frames, token: str | None = None, binary: bytes | None = None) -> int:
    """Open a socket, optionally authenticate, send the frames (text, or bytes as a text frame), return the close code."""
    with open_socket(server) as ws:
        if token is not None:
            authenticate(ws, token)
        if binary is not None:
            ws.send(binary)
        for frame in frames:
            if isinstance(frame, bytes):
                ws.send(frame, text=True)  # raw bytes in a text frame: how to send invalid UTF-8
            else:
                ws.send(frame)
        return closed_with(ws)


def test_every_bad_input_gets_its_contract_close_code_never_1011(daphne_server, alice, bob, device_of):
    server = daphne_server(DEDWEN_WS_RATE="5/0.5", DEDWEN_WS_MAX_FRAME="16384")
    session, other = device_of(alice), device_of(bob)
    revoked = device_of(alice)
    Device.objects.filter(pk=revoked.device_id).update(revoked_at=revoked.device.created_at)
    auth = lambda token: json.dumps({"type": ClientFrame.AUTHENTICATE, "data": {"token": token}})  # noqa: E731
    cases = {
        "not JSON": (close_code_of(server, "hello"), CloseCode.BAD_FRAME),
        "an array": (close_code_of(server, "[]"), CloseCode.BAD_FRAME),
        "NaN": (close_code_of(server, '{"type":"authenticate","data":{"token":NaN}}'), CloseCode.BAD_FRAME),
        "5000-deep": (close_code_of(server, "[" * 5000 + "]" * 5000), CloseCode.BAD_FRAME),
        "5000-digit int": (close_code_of(server, '{"type":"authenticate","data":{"token":' + "9" * 5000 + "}}"), CloseCode.BAD_FRAME),
        "binary": (close_code_of(server, binary=b'{"type":"authenticate"}'), CloseCode.BAD_FRAME),
        # Refused by the protocol server before the application sees it: a close frame, not a drop.
        "invalid UTF-8": (close_code_of(server, b'{"type":"\xff\xfe"}'), 1007),
        "invalid UTF-8 after auth": (close_code_of(server, b'{"type":"ping","data":{"x":"\xc3\x28"}}', token=session.token), 1007),
        "ping first": (close_code_of(server, json.dumps({"type": ClientFrame.PING, "data": {}})), CloseCode.BAD_FRAME),
        "token null": (close_code_of(server, auth(None)), CloseCode.UNAUTHORIZED),
        "token a number": (close_code_of(server, auth(7)), CloseCode.UNAUTHORIZED),
        "token a list": (close_code_of(server, auth([session.token])), CloseCode.UNAUTHORIZED),
        "token an object": (close_code_of(server, auth({})), CloseCode.UNAUTHORIZED),
        "token empty": (close_code_of(server, auth("")), CloseCode.UNAUTHORIZED),
        "token 8 KB": (close_code_of(server, auth("a" * 8000)), CloseCode.UNAUTHORIZED),
        # Over the transport limit (DEDWEN_WS_MAX_FRAME plus a quarter): autobahn closes before buffering it.
        "token 1 MB": (close_code_of(server, auth("a" * 1_000_000)), 1009),
        "token just over the frame limit": (close_code_of(server, auth("a" * 17_000)), CloseCode.TOO_LARGE),
        "refresh token": (close_code_of(server, auth(session.refresh)), CloseCode.UNAUTHORIZED),
        "alg none": (close_code_of(server, auth(_alg_none(session.token))), CloseCode.UNAUTHORIZED),
        "signature stripped": (close_code_of(server, auth(session.token.rsplit(".", 1)[0] + ".")), CloseCode.UNAUTHORIZED),
        "unknown crit": (close_code_of(server, auth(forge(claims_of(session.token), crit=["x-dedwen"]))), CloseCode.UNAUTHORIZED),
        "device of another user": (
            close_code_of(server, auth(forge(claims_of(session.token) | {"device": other.device_id}))),
            CloseCode.UNAUTHORIZED,
        ),
        "revoked device": (close_code_of(server, auth(revoked.token)), CloseCode.FORBIDDEN),
        "frame over the limit after auth": (close_code_of(server, "x" * 20000, token=session.token), CloseCode.TOO_LARGE),
        "frame over the transport limit after auth": (close_code_of(server, "x" * 30000, token=session.token), 1009),
        "flood after auth": (
            close_code_of(server, *[json.dumps({"type": ClientFrame.PING, "data": {}})] * 20, token=session.token),
            CloseCode.RATE_LIMITED,
        ),
    }
    assert {name: got for name, (got, _) in cases.items()} == {name: int(want) for name, (_, want) in cases.items()}
    assert "Traceback" not in server.log()


def _alg_none(token: str) -> str:
    import base64

    head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    return f"{head}.{token.split('.')[1]}."


def test_junk_after_authentication_gets_error_frames_and_the_socket_lives(daphne_server, alice, device_of):
    server = daphne_server()
    session = device_of(alice)
    with open_socket(server) as ws:
        authenticate(ws, session.token)
        codes = []
        for junk in ["hello", "[1]", '{"type":"ping","data":{"n":NaN}}', "[" * 2000 + "]" * 2000, '{"type":"nope"}']:
            ws.send(junk)
            codes.append(next_frame(ws, ServerFrame.ERROR)["data"]["code"])
        ws.send(b"\x00")
        codes.append(next_frame(ws, ServerFrame.ERROR)["data"]["code"])
        send_frame(ws, ClientFrame.PING, {}, ref="alive")
        assert next_frame(ws, ServerFrame.PONG)["ref"] == "alive"
    assert codes == [ErrorCode.BAD_FRAME] * 4 + [ErrorCode.UNKNOWN_TYPE, ErrorCode.BAD_FRAME]


def test_the_auth_timeout_and_token_expiry_with_and_without_reauthentication(daphne_server, alice, device_of, settings):
    server = daphne_server(DEDWEN_WS_AUTH_TIMEOUT="0.5")
    with open_socket(server) as idle:
        assert closed_with(idle) == CloseCode.AUTH_TIMEOUT
    settings.ACCESS_TOKEN_LIFETIME = 2  # whole seconds: the token lives between 1 and 2 s
    short = device_of(alice)
    with open_socket(server) as expiring:
        authenticate(expiring, short.token)
        assert closed_with(expiring) == CloseCode.UNAUTHORIZED
    first = device_of(alice)
    settings.ACCESS_TOKEN_LIFETIME = 4
    longer = device_of(alice)
    with open_socket(server) as renewed:
        authenticate(renewed, first.token)
        send_frame(renewed, ClientFrame.AUTHENTICATE, {"token": longer.token}, ref="renew")
        assert next_frame(renewed, ServerFrame.AUTHENTICATED)["ref"] == "renew"
        until(lambda: time.time() > claims_of(first.token)["exp"] + 0.3, what="the first token expiring")
        send_frame(renewed, ClientFrame.PING, {})
        next_frame(renewed, ServerFrame.PONG)
        assert closed_with(renewed) == CloseCode.UNAUTHORIZED


def test_the_origin_check(daphne_server, alice, device_of):
    server = daphne_server()
    session = device_of(alice)
    with pytest.raises(InvalidStatus) as denied:
        open_socket(server, origin="http://evil.example")
    assert denied.value.response.status_code == 403
    for origin in [f"http://127.0.0.1:{server.port + 1}", f"https://127.0.0.1:{server.port}"]:
        with pytest.raises(InvalidStatus) as denied:
            open_socket(server, origin=origin)
        assert denied.value.response.status_code == 403, origin
    for origin in [None, server.origin, f"http://localhost:{server.port}"]:
        with open_socket(server, origin=origin) as ws:
            authenticate(ws, session.token)


def test_the_admin_revoke_action_closes_a_live_socket_within_a_second(daphne_server, alice, device_of, admin_client):
    # Without Redis the test process and daphne have separate layers: the device re-check closes it.
    recheck = None if os.environ.get("REDIS_URL") else "0.3"
    server = daphne_server(DEDWEN_WS_DEVICE_RECHECK=recheck)
    session = device_of(alice)
    with open_socket(server) as ws:
        authenticate(ws, session.token)
        response = admin_client.post(
            "/admin/accounts/device/", {"action": "revoke", "_selected_action": [session.device_id]}
        )
        assert response.status_code == 302
        assert closed_with(ws, timeout=1.0) == CloseCode.FORBIDDEN
    server.wait_for_log(f"[WebSocket] Connection closed for user {alice.pk}: code={CloseCode.FORBIDDEN.value}")


@pytest.mark.usefixtures("redis_url")
def test_logging_out_on_one_process_closes_the_devices_socket_on_another(daphne_server, alice, login):
    one, other = daphne_server(), daphne_server()
    session = login(alice)
    with open_socket(other) as ws:
        authenticate(ws, session.token)
        request = urllib.request.Request(
            f"{one.http_url}/api/auth/logout/", method="POST", headers={"Authorization": f"Bearer {session.token}"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 204
        assert closed_with(ws, timeout=1.0) == CloseCode.FORBIDDEN


def test_an_unreachable_redis_closes_sockets_4503_and_the_process_stays_up(daphne_server, alice, device_of):
    server = daphne_server(REDIS_URL="redis://127.0.0.1:1/0")
    session = device_of(alice)
    with open_socket(server) as ws:  # a valid token, but the layer cannot give the socket a channel
        send_frame(ws, ClientFrame.AUTHENTICATE, {"token": session.token})
        assert closed_with(ws, timeout=10) == CloseCode.UNAVAILABLE
    assert server.process.poll() is None
    with urllib.request.urlopen(f"{server.http_url}/accounts/login/", timeout=5) as response:
        assert response.status == 200


def test_no_token_appears_in_any_log_line(daphne_server, alice, device_of):
    server = daphne_server(DEDWEN_LOG_LEVEL="DEBUG")
    session, again = device_of(alice), device_of(alice)
    secrets = [session.token, again.token, session.refresh, session.token.split(".")[2]]
    with open_socket(server) as ws:
        authenticate(ws, session.token)
        send_frame(ws, ClientFrame.AUTHENTICATE, {"token": again.token})
        next_frame(ws, ServerFrame.AUTHENTICATED)
        send_frame(ws, "nope", {"token": session.token})
        next_frame(ws, ServerFrame.ERROR)
    for bad in [session.refresh, session.token[:-3] + "abc", session.token + "x" * 5000]:
        with open_socket(server) as ws:
            send_frame(ws, ClientFrame.AUTHENTICATE, {"token": bad})
            closed_with(ws)
    log = server.wait_for_log("Connection closed", count=4)
    assert f"[WebSocket] User {alice.pk} authenticated and connected" in log
    assert [secret for secret in secrets if secret in log] == []
