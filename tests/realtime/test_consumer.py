"""The /ws/ consumer in process: handshake, close codes, frames after authentication, expiry, revocation."""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections.abc import Callable

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError

from accounts.models import Device
from accounts.tokens import TokenFailure
from dedwen.env import Rate
from messaging.protocol import MessagingClientFrame, MessagingServerFrame
from realtime import db, registry
from realtime.auth import authenticator
from realtime.consumer import SocketConsumer
from realtime.errors import NotFound
from realtime.layers import InProcessChannelLayer
from realtime.protocol import (
    EVENT_DEVICE_REVOKED,
    EVENT_FRAME,
    ClientFrame,
    CloseCode,
    ErrorCode,
    ServerFrame,
    device_group,
    user_group,
)
from realtime.publish import encode_frame
from tests.accounts.bad_tokens import BAD_TOKENS, BadToken, claims_of, session_of
from tests.support.realtime import encode, socket_client
from tests.support.waiting import auntil

pytestmark = pytest.mark.usefixtures("transactional_db")

DEEP = "[" * 5000 + "]" * 5000
NOT_A_FIRST_FRAME = {
    "not JSON": "hello",
    "truncated JSON": '{"type": "authenticate"',
    "an array": '["authenticate"]',
    "a string": '"authenticate"',
    "a number": "42",
    "null": "null",
    "NaN": '{"type": "authenticate", "data": {"token": NaN}}',
    "Infinity": '{"type": "authenticate", "data": {"token": -Infinity}}',
    "5000-deep nesting": DEEP,
    "5000-deep nesting in data": '{"type": "authenticate", "data": {"token": ' + DEEP + "}}",
    "5000-digit integer": '{"type": "authenticate", "data": {"token": ' + "9" * 5000 + "}}",
    "no type": '{"data": {"token": "x"}}',
    "another type": encode(ClientFrame.PING, {}),
    "an unknown type": encode("dedwen.device_revoked", {}),
    "authenticate without data": encode(ClientFrame.AUTHENTICATE),
    "authenticate with data a list": '{"type": "authenticate", "data": ["token"]}',
}


async def orm(fn, *args, **kwargs):
    """Run ORM code from an async test."""
    return await sync_to_async(fn)(*args, **kwargs)


@pytest.fixture
def session(alice, bob, device_of):
    """Alice's valid tokens and device, plus a live device of bob's to forge against."""
    return session_of(device_of(alice), device_of(bob))


# Handshake ----------------------------------------------------------------------------------------


async def test_authenticate_answers_with_user_device_and_expiry_then_ping_gets_pong(alice, device_of, caplog):
    minted = await orm(device_of, alice)
    caplog.set_level("INFO", logger="dedwen.realtime.socket")
    async with socket_client() as client:
        hello = await client.authenticate(minted.token)
        await client.send_frame(ClientFrame.PING, {}, ref="r1")
        pong = await client.next_frame(ServerFrame.PONG)
    assert hello["data"] == {
        "user": {"id": alice.pk, "username": "alice"},
        "device_id": minted.device_id,
        "connection_id": hello["data"]["connection_id"],
        "expires_at": hello["data"]["expires_at"],
    }
    assert isinstance(hello["data"]["connection_id"], str) and len(hello["data"]["connection_id"]) >= 16
    assert hello["data"]["expires_at"].endswith("Z")
    assert pong == {"type": ServerFrame.PONG, "data": {}, "ref": "r1"}
    assert caplog.messages[:2] == [
        "[WebSocket] Connection established, awaiting JWT authentication...",
        f"[WebSocket] User {alice.pk} authenticated and connected",
    ]


@pytest.mark.parametrize("text", NOT_A_FIRST_FRAME.values(), ids=NOT_A_FIRST_FRAME.keys())
async def test_a_first_frame_that_is_not_a_strict_authenticate_object_closes_4400(text):
    async with socket_client() as client:
        await client.send_text(text)
        assert await client.closed_with() == CloseCode.BAD_FRAME


async def test_a_binary_first_frame_closes_4400():
    async with socket_client() as client:
        await client.send_bytes(b'{"type": "authenticate"}')
        assert await client.closed_with() == CloseCode.BAD_FRAME


WS_TOKENS = [case for case in BAD_TOKENS if case.name != "bytes"]  # JSON cannot carry bytes


@pytest.mark.parametrize("case", WS_TOKENS, ids=[case.name for case in WS_TOKENS])
async def test_a_bad_token_closes_4401_and_a_revoked_device_4403(session, case: BadToken, caplog):
    raw = await orm(case.build, session)
    async with socket_client() as client:
        await client.send_frame(ClientFrame.AUTHENTICATE, {"token": raw})
        code = await client.closed_with()
    expected = CloseCode.FORBIDDEN if case.failure == TokenFailure.REVOKED else CloseCode.UNAUTHORIZED
    assert code == expected
    assert session.token not in caplog.text


async def test_a_token_of_a_megabyte_closes_4413_unread():
    async with socket_client() as client:
        await client.send_frame(ClientFrame.AUTHENTICATE, {"token": "a" * 1_000_000})
        assert await client.closed_with() == CloseCode.TOO_LARGE


async def test_no_authenticate_within_the_timeout_closes_4408(settings):
    settings.DEDWEN_WS_AUTH_TIMEOUT = 0.2
    async with socket_client() as client:
        assert await client.closed_with() == CloseCode.AUTH_TIMEOUT


async def test_a_token_in_the_url_is_ignored(alice, device_of, settings):
    settings.DEDWEN_WS_AUTH_TIMEOUT = 0.2
    minted = await orm(device_of, alice)
    async with socket_client(path=f"/ws/?token={minted.token}") as client:
        assert await client.closed_with() == CloseCode.AUTH_TIMEOUT


def the_database_refuses_the_token_check(monkeypatch) -> None:
    def database_down(raw):
        raise OperationalError("connection refused")

    monkeypatch.setattr(authenticator(), "authenticate", database_down)


def the_channel_layer_makes_no_channel(monkeypatch) -> None:
    async def layer_down(*args, **kwargs):
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(get_channel_layer(), "new_channel", layer_down)


def the_channel_layer_joins_no_group(monkeypatch) -> None:
    async def layer_down(groups, channel):
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(get_channel_layer(), "group_add_many", layer_down)


def the_channel_layer_stops_delivering_events(monkeypatch) -> Callable[[], None]:
    """Events flow until the returned function is called; then the layer's receive fails."""
    lost = asyncio.Event()

    async def receive_until_lost(channel):
        await lost.wait()
        raise RedisConnectionError("Connection reset")

    monkeypatch.setattr(get_channel_layer(), "receive", receive_until_lost)
    return lost.set


@pytest.mark.parametrize(
    "outage, once_authenticated",
    [
        (the_database_refuses_the_token_check, False),
        (the_channel_layer_makes_no_channel, False),
        (the_channel_layer_joins_no_group, False),
        (the_channel_layer_stops_delivering_events, True),
    ],
    ids=lambda value: value.__name__.replace("_", " ") if callable(value) else None,
)
async def test_a_backend_the_socket_needs_going_down_closes_it_4503(alice, device_of, monkeypatch, outage, once_authenticated):
    minted = await orm(device_of, alice)
    cut = outage(monkeypatch)
    async with socket_client() as client:
        if once_authenticated:
            await client.authenticate(minted.token)
            cut()
        else:
            await client.send_frame(ClientFrame.AUTHENTICATE, {"token": minted.token})
        assert await client.closed_with() == CloseCode.UNAVAILABLE


async def test_an_unauthenticated_socket_holds_no_channel_layer_channel_until_its_token_is_valid(
    alice, device_of, monkeypatch
):
    minted = await orm(device_of, alice)
    layer = get_channel_layer()
    real_new_channel = layer.new_channel
    made: list[str] = []

    async def counting_new_channel(*args, **kwargs):
        made.append(await real_new_channel(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(layer, "new_channel", counting_new_channel)
    async with socket_client() as idle, socket_client() as refused:
        await refused.send_frame(ClientFrame.AUTHENTICATE, {"token": "not-a-token"})
        assert await refused.closed_with() == CloseCode.UNAUTHORIZED
        assert await idle.nothing_more()
        assert made == []
        await idle.authenticate(minted.token)
        assert len(made) == 1


async def test_a_socket_over_the_per_user_cap_closes_4429_and_a_closed_one_frees_its_slot(
    alice, bob, device_of, settings
):
    settings.DEDWEN_WS_MAX_SOCKETS_PER_USER = 2
    alices, bobs = await orm(device_of, alice), await orm(device_of, bob)
    async with socket_client() as first, socket_client() as second, socket_client() as bob_socket:
        await first.authenticate(alices.token)
        await second.authenticate(alices.token)
        async with socket_client() as third:
            await third.send_frame(ClientFrame.AUTHENTICATE, {"token": alices.token})
            assert await third.closed_with() == CloseCode.TOO_MANY_SOCKETS
        await bob_socket.authenticate(bobs.token)  # the cap is per user
        await first.communicator.disconnect(timeout=5)
        async with socket_client() as again:
            await again.authenticate(alices.token)
            await again.send_frame(ClientFrame.PING, {}, ref="p")
            assert (await again.next_frame(ServerFrame.PONG))["ref"] == "p"


# Origin -------------------------------------------------------------------------------------------


ALLOWED_ORIGINS = {  # Origin header, Host header: same scheme and port as the handshake, an allowed host
    "no Origin": (None, b"localhost:8000"),
    "the same origin": (b"http://localhost:8000", b"localhost:8000"),
    "another allowed host, same port": (b"http://127.0.0.1:8000", b"localhost:8000"),
    "case and the default port": (b"http://LOCALHOST", b"localhost:80"),
}
DENIED_ORIGINS = {
    "another host": (b"http://evil.example", b"localhost"),
    "null": (b"null", b"localhost"),
    "a suffix of an allowed host": (b"http://localhost.evil.example", b"localhost"),
    "no scheme": (b"localhost", b"localhost"),
    "a malformed port": (b"http://localhost:x", b"localhost"),
    "another port": (b"http://localhost:9999", b"localhost:8000"),
    "https on a plain server": (b"https://localhost:8000", b"localhost:8000"),
    "https on the default port of a plain server": (b"https://localhost", b"localhost"),
    "a path": (b"http://localhost:8000/app", b"localhost:8000"),
}


def _handshake_headers(origin: bytes | None, host: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"host", host)] + ([(b"origin", origin)] if origin else [])


@pytest.mark.parametrize(("origin", "host"), ALLOWED_ORIGINS.values(), ids=ALLOWED_ORIGINS.keys())
async def test_a_handshake_without_origin_or_from_an_allowed_host_is_accepted(origin, host):
    async with socket_client(headers=_handshake_headers(origin, host)) as client:
        assert await client.nothing_more()


@pytest.mark.parametrize(("origin", "host"), DENIED_ORIGINS.values(), ids=DENIED_ORIGINS.keys())
async def test_a_handshake_from_another_origin_is_denied(origin, host):
    from channels.testing import WebsocketCommunicator

    from realtime.routing import websocket_application

    communicator = WebsocketCommunicator(websocket_application, "/ws/", headers=_handshake_headers(origin, host))
    connected, _ = await communicator.connect()
    assert connected is False


async def test_a_trusted_origin_and_https_behind_a_trusted_proxy_are_accepted(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.com"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    trusted = _handshake_headers(b"https://app.example.com", b"localhost:8000")
    proxied = [(b"host", b"localhost"), (b"origin", b"https://localhost"), (b"x-forwarded-proto", b"https")]
    for headers in (trusted, proxied):
        async with socket_client(headers=headers) as client:
            assert await client.nothing_more()


async def test_a_path_other_than_ws_is_denied():
    from channels.testing import WebsocketCommunicator

    from realtime.routing import websocket_application

    connected, _ = await WebsocketCommunicator(websocket_application, "/elsewhere/").connect()
    assert connected is False


# After authentication -------------------------------------------------------------------------------

JUNK_AFTER_AUTH = {
    "not JSON": ("hello", ErrorCode.BAD_FRAME),
    "an array": ("[1, 2]", ErrorCode.BAD_FRAME),
    "NaN": ('{"type": "ping", "data": {"n": NaN}}', ErrorCode.BAD_FRAME),
    "5000-deep nesting": (DEEP, ErrorCode.BAD_FRAME),
    "5000-digit integer": ('{"type": "ping", "data": {"n": ' + "9" * 5000 + "}}", ErrorCode.BAD_FRAME),
    "data a string": ('{"type": "ping", "data": "x"}', ErrorCode.BAD_FRAME),
    "type a number": ('{"type": 7, "data": {}}', ErrorCode.BAD_FRAME),
    "an unknown type": (encode("nope", {}), ErrorCode.UNKNOWN_TYPE),
    "a server-only type": (encode(ServerFrame.PONG, {}), ErrorCode.UNKNOWN_TYPE),
    "a channel-layer event type": (encode("dedwen.device_revoked", {}), ErrorCode.UNKNOWN_TYPE),
    "a consumer method name": (encode("websocket.disconnect", {"code": 1000}), ErrorCode.UNKNOWN_TYPE),
}


@pytest.mark.parametrize("text, code", JUNK_AFTER_AUTH.values(), ids=JUNK_AFTER_AUTH.keys())
async def test_junk_after_authentication_gets_an_error_frame_and_the_socket_lives(alice, device_of, text, code):
    minted = await orm(device_of, alice)
    async with socket_client() as client:
        await client.authenticate(minted.token)
        await client.send_text(text)
        error = await client.next_frame(ServerFrame.ERROR)
        await client.send_frame(ClientFrame.PING, {})
        assert await client.next_frame(ServerFrame.PONG) == {"type": ServerFrame.PONG, "data": {}}
    assert error["type"] == ServerFrame.ERROR
    assert error["data"]["code"] == code
    assert error["data"]["message"]


async def test_an_error_frame_carries_the_ref_of_the_frame_it_answers(alice, device_of):
    minted = await orm(device_of, alice)
    async with socket_client() as client:
        await client.authenticate(minted.token)
        await client.send_text('{"type": "ping", "data": 3, "ref": "q9"}')
        error = await client.next_frame(ServerFrame.ERROR)
    assert error["ref"] == "q9"


async def test_a_binary_frame_after_authentication_gets_an_error_frame(alice, device_of):
    minted = await orm(device_of, alice)
    async with socket_client() as client:
        await client.authenticate(minted.token)
        await client.send_bytes(b"\x00\x01")
        error = await client.next_frame(ServerFrame.ERROR)
        assert error["data"]["code"] == ErrorCode.BAD_FRAME
        await client.send_frame(ClientFrame.PING, {})
        await client.next_frame(ServerFrame.PONG)


@pytest.fixture
def handlers(monkeypatch):
    """Replace every registered socket app with one handling just the given frames (the kernel still answers ping)."""

    def install(table):
        monkeypatch.setattr(registry, "_apps", {})
        monkeypatch.setattr(registry, "_handlers", {})
        registry.register(registry.SocketApp(name="test", handlers=table))

    return install


async def test_a_handler_refusal_and_a_database_outage_become_error_frames(alice, device_of, handlers):
    async def refuse(ctx, data, ref):
        raise NotFound("no such conversation")

    async def outage(ctx, data, ref):
        raise db.Unavailable("OperationalError")

    async def echo(ctx, data, ref):
        await ctx.send_frame(ServerFrame.ACK, {"user_id": ctx.user_id, "got": dict(data)}, ref)

    handlers({MessagingClientFrame.MESSAGE_READ: refuse, MessagingClientFrame.MESSAGE_SEND: outage, MessagingClientFrame.TYPING: echo})
    minted = await orm(device_of, alice)
    async with socket_client() as client:
        await client.authenticate(minted.token)
        await client.send_frame(MessagingClientFrame.MESSAGE_READ, {}, ref="a")
        refused = await client.next_frame(ServerFrame.ERROR)
        await client.send_frame(MessagingClientFrame.MESSAGE_SEND, {}, ref="b")
        unavailable = await client.next_frame(ServerFrame.ERROR)
        await client.send_frame(MessagingClientFrame.TYPING, {"conversation_id": 1}, ref="c")
        echoed = await client.next_frame(ServerFrame.ACK)
    assert refused == {"type": "error", "ref": "a", "data": {"code": ErrorCode.NOT_FOUND, "message": "no such conversation"}}
    assert unavailable["data"]["code"] == ErrorCode.UNAVAILABLE and unavailable["ref"] == "b"
    assert echoed == {"type": "ack", "ref": "c", "data": {"user_id": alice.pk, "got": {"conversation_id": 1}}}


@pytest.fixture
def socket_apps(monkeypatch):
    """Replace every registered socket app with the given ones."""

    def install(*apps):
        monkeypatch.setattr(registry, "_apps", {})
        monkeypatch.setattr(registry, "_handlers", {})
        for app in apps:
            registry.register(app)

    return install


async def test_an_apps_prepare_reads_in_the_token_checks_database_trip_and_on_open_gets_what_it_read(
    alice, device_of, socket_apps, db_calls
):
    def prepare(identity):
        # The ORM refuses to run on the event loop: this read works only in the database thread.
        return {"user_id": identity.user_id, "devices": Device.objects.filter(user_id=identity.user_id).count()}

    async def open_with(ctx, prepared):
        await ctx.send_frame(ServerFrame.ACK, {"app": "reader", "prepared": prepared}, None)

    async def open_without(ctx, prepared):
        await ctx.send_frame(ServerFrame.ACK, {"app": "plain", "prepared": prepared}, None)

    socket_apps(
        registry.SocketApp(name="reader", prepare=prepare, on_open=open_with),
        registry.SocketApp(name="plain", on_open=open_without),
    )
    minted = await orm(device_of, alice)
    db_calls.clear()
    async with socket_client() as client:
        await client.authenticate(minted.token)
        opened = [(await client.next_frame(ServerFrame.ACK))["data"] for _ in range(2)]
        trips = db_calls.trips
    assert trips == 1  # the token check and every prepare: one hop to the database thread
    assert opened == [
        {"app": "reader", "prepared": {"user_id": alice.pk, "devices": 1}},
        {"app": "plain", "prepared": None},
    ]


async def test_a_database_outage_in_an_apps_prepare_closes_4503_before_authenticated(alice, device_of, socket_apps):
    opened = []

    def prepare(identity):
        raise OperationalError("connection refused")

    async def on_open(ctx, prepared):
        opened.append(ctx.user_id)

    socket_apps(registry.SocketApp(name="reader", prepare=prepare, on_open=on_open))
    minted = await orm(device_of, alice)
    async with socket_client() as client:
        await client.send_frame(ClientFrame.AUTHENTICATE, {"token": minted.token})
        output = await client.communicator.receive_output(timeout=5)
    assert output == {"type": "websocket.close", "code": CloseCode.UNAVAILABLE}
    assert opened == []


async def test_a_frame_type_without_a_handler_is_unknown(alice, device_of, handlers):
    handlers({})
    minted = await orm(device_of, alice)
    async with socket_client() as client:
        await client.authenticate(minted.token)
        await client.send_frame(MessagingClientFrame.SYNC, {"after": 0})
        assert (await client.next_frame(ServerFrame.ERROR))["data"]["code"] == ErrorCode.UNKNOWN_TYPE


async def test_a_frame_over_the_size_limit_closes_4413(alice, device_of, settings):
    settings.DEDWEN_WS_MAX_FRAME = 1024
    minted = await orm(device_of, alice)
    async with socket_client() as client:
        await client.authenticate(minted.token)
        await client.send_frame(ClientFrame.PING, {"pad": "é" * 600})  # 600 characters, 1200 bytes
        assert await client.closed_with() == CloseCode.TOO_LARGE


async def test_a_flood_beyond_the_frame_budget_closes_4429(alice, device_of, settings):
    settings.DEDWEN_WS_RATE = Rate(burst=5, per_second=0.01)
    minted = await orm(device_of, alice)
    async with socket_client() as client:
        await client.authenticate(minted.token)  # frame 1
        for _ in range(5):
            await client.send_frame(ClientFrame.PING, {})
        assert await client.closed_with() == CloseCode.RATE_LIMITED


async def test_group_frames_are_relayed_verbatim(alice, device_of):
    minted = await orm(device_of, alice)
    text = encode_frame(MessagingServerFrame.NOTIFICATION, {"id": 1, "text": "hi"})
    async with socket_client() as client:
        await client.authenticate(minted.token)
        await get_channel_layer().group_send(user_group(alice.pk), {"type": EVENT_FRAME, "text": text})
        relayed = await client.next_text(lambda received: '"notification"' in received)
    assert relayed == text


async def layer_caught_up() -> None:
    """Wait until what was published so far has reached this process's channels (pub/sub keeps a shard's order)."""
    layer = get_channel_layer()
    probe = await layer.new_channel()
    await layer.group_add("probe", probe)
    await layer.group_send("probe", {"type": "probe"})
    await asyncio.wait_for(layer.receive(probe), 5)
    await layer.group_discard("probe", probe)


async def test_a_frame_published_to_an_idle_socket_is_written_at_once_where_the_server_can(alice, device_of):
    minted = await orm(device_of, alice)
    text = encode_frame(MessagingServerFrame.NOTIFICATION, {"id": 1, "text": "hi"})
    async with socket_client(send_text_now=True) as client:
        await client.authenticate(minted.token)
        await client.send_frame(ClientFrame.PING, {})
        await client.next_frame(ServerFrame.PONG)  # the pong ends its dispatch: the socket is idle
        await get_channel_layer().group_send(user_group(alice.pk), {"type": EVENT_FRAME, "text": text})
        relayed = await client.next_text(lambda received: '"notification"' in received)
    assert relayed == text
    assert client.written_now == [[text]]  # by the delivering task, without waking the socket's


def frames_out(frame_type: str) -> float:
    """Return dedwen_ws_frames_total for frames of this type sent so far by this process."""
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("dedwen_ws_frames_total", {"direction": "out", "type": frame_type}) or 0.0


async def test_the_frames_one_batch_brings_an_idle_socket_leave_in_one_write_each_counted(alice, device_of):
    minted = await orm(device_of, alice)
    texts = [encode_frame(MessagingServerFrame.NOTIFICATION, {"id": n, "text": "hi"}) for n in (1, 2)]
    async with socket_client(send_text_now=True) as client:
        await client.authenticate(minted.token)
        await client.send_frame(ClientFrame.PING, {})
        await client.next_frame(ServerFrame.PONG)
        before = frames_out(MessagingServerFrame.NOTIFICATION)
        await get_channel_layer().group_send_batch(
            [([user_group(alice.pk)], {"type": EVENT_FRAME, "text": text, "frame_type": str(MessagingServerFrame.NOTIFICATION)}) for text in texts]
        )
        relayed = [await client.next_text(lambda received: '"notification"' in received) for _ in texts]
        assert frames_out(MessagingServerFrame.NOTIFICATION) == before + 2
    assert relayed == texts
    if isinstance(get_channel_layer(), InProcessChannelLayer):  # on Redis, each went as its own PUBLISH
        assert client.written_now == [texts]


async def test_frames_ahead_of_a_revocation_in_one_batch_leave_and_the_revocation_closes_the_socket(alice, device_of):
    minted = await orm(device_of, alice)
    before, after = (encode_frame(MessagingServerFrame.NOTIFICATION, {"id": n, "text": "hi"}) for n in (1, 2))
    async with socket_client(send_text_now=True) as client:
        await client.authenticate(minted.token)
        await client.send_frame(ClientFrame.PING, {})
        await client.next_frame(ServerFrame.PONG)
        await get_channel_layer().group_send_batch(
            [
                ([user_group(alice.pk)], {"type": EVENT_FRAME, "text": before}),
                ([device_group(minted.device.pk)], {"type": EVENT_DEVICE_REVOKED, "at": time.time()}),
                ([user_group(alice.pk)], {"type": EVENT_FRAME, "text": after}),
            ]
        )
        assert await client.next_text(lambda received: '"notification"' in received) == before
        assert await client.closed_with() == CloseCode.FORBIDDEN  # the frame behind it never left
    assert client.written_now == [[before]]


async def test_a_frame_published_while_the_socket_handles_a_frame_follows_that_frames_answer(alice, device_of, handlers):
    handling, release = asyncio.Event(), asyncio.Event()

    async def slow(ctx, data, ref):
        handling.set()
        await release.wait()
        await ctx.send_frame(ServerFrame.ACK, {}, ref)

    handlers({MessagingClientFrame.TYPING: slow})
    minted = await orm(device_of, alice)
    text = encode_frame(MessagingServerFrame.NOTIFICATION, {"id": 2, "text": "meanwhile"})
    async with socket_client(send_text_now=True) as client:
        await client.authenticate(minted.token)
        await client.send_frame(MessagingClientFrame.TYPING, {"conversation_id": 1}, ref="slow")
        await asyncio.wait_for(handling.wait(), 5)
        await get_channel_layer().group_send(user_group(alice.pk), {"type": EVENT_FRAME, "text": text})
        await layer_caught_up()
        release.set()
        answer = await client.next_frame()
        relayed = await client.next_text(lambda received: '"notification"' in received)
    assert (answer["type"], answer["ref"]) == (ServerFrame.ACK, "slow")
    assert relayed == text
    assert client.written_now == []  # it waited its turn on the socket's own task


# Re-authentication and expiry ---------------------------------------------------------------------


async def test_reauthentication_with_a_fresh_token_of_the_same_user_is_answered(alice, device_of):
    first, second = await orm(device_of, alice), await orm(device_of, alice)
    async with socket_client() as client:
        await client.authenticate(first.token)
        await client.send_frame(ClientFrame.AUTHENTICATE, {"token": second.token}, ref="re")
        again = await client.next_frame(ServerFrame.AUTHENTICATED)
    assert again["type"] == ServerFrame.AUTHENTICATED and again["ref"] == "re"
    assert again["data"]["device_id"] == second.device_id


async def test_reauthentication_as_another_user_closes_4403(alice, bob, device_of):
    mine, theirs = await orm(device_of, alice), await orm(device_of, bob)
    async with socket_client() as client:
        await client.authenticate(mine.token)
        await client.send_frame(ClientFrame.AUTHENTICATE, {"token": theirs.token})
        assert await client.closed_with() == CloseCode.FORBIDDEN


async def test_reauthentication_with_an_invalid_token_closes_4401(alice, device_of):
    minted = await orm(device_of, alice)
    async with socket_client() as client:
        await client.authenticate(minted.token)
        await client.send_frame(ClientFrame.AUTHENTICATE, {"token": minted.token[:-2]})
        assert await client.closed_with() == CloseCode.UNAUTHORIZED


async def test_a_token_that_expires_on_a_live_socket_closes_it_4401(alice, device_of, settings):
    settings.ACCESS_TOKEN_LIFETIME = 2  # whole seconds: lives between 1 and 2 s
    minted = await orm(device_of, alice)
    async with socket_client() as client:
        await client.authenticate(minted.token)
        assert await client.closed_with() == CloseCode.UNAUTHORIZED


async def test_reauthenticating_before_expiry_keeps_the_socket_open_past_the_first_token(alice, device_of, settings):
    settings.ACCESS_TOKEN_LIFETIME = 2  # whole seconds: lives between 1 and 2 s
    short = await orm(device_of, alice)
    settings.ACCESS_TOKEN_LIFETIME = 3
    longer = await orm(device_of, alice)
    async with socket_client() as client:
        await client.authenticate(short.token)
        await client.send_frame(ClientFrame.AUTHENTICATE, {"token": longer.token})
        await client.next_frame(ServerFrame.AUTHENTICATED)
        await auntil(lambda: time.time() > claims_of(short.token)["exp"] + 0.3, what="the short token expiring")
        await client.send_frame(ClientFrame.PING, {})
        assert (await client.next_frame(ServerFrame.PONG))["type"] == ServerFrame.PONG
        assert await client.closed_with() == CloseCode.UNAUTHORIZED  # the longer token runs out too


# Revocation ---------------------------------------------------------------------------------------


async def test_the_admin_revoke_action_closes_a_live_socket_4403_within_a_second(alice, device_of, admin_client):
    minted = await orm(device_of, alice)
    async with socket_client() as client:
        await client.authenticate(minted.token)
        response = await orm(
            admin_client.post,
            "/admin/accounts/device/",
            {"action": "revoke", "_selected_action": [minted.device_id]},
        )
        assert response.status_code == 302
        assert await client.closed_with(timeout=1.0) == CloseCode.FORBIDDEN


async def test_deactivating_the_user_closes_their_live_socket_4403(alice, device_of):
    minted = await orm(device_of, alice)
    async with socket_client() as client:
        await client.authenticate(minted.token)
        alice.is_active = False
        await orm(alice.save)
        assert await client.closed_with() == CloseCode.FORBIDDEN


async def test_a_lost_revocation_event_is_caught_by_the_device_recheck(alice, device_of, settings):
    settings.DEDWEN_WS_DEVICE_RECHECK = 0.2
    minted = await orm(device_of, alice)
    async with socket_client() as client:
        await client.authenticate(minted.token)
        await orm(lambda: Device.objects.filter(pk=minted.device_id).update(revoked_at=minted.device.created_at))
        assert await client.closed_with() == CloseCode.FORBIDDEN


async def test_the_socket_log_never_contains_the_token(alice, device_of, caplog, settings):
    settings.ACCESS_TOKEN_LIFETIME = 2  # whole seconds: lives between 1 and 2 s
    caplog.set_level("DEBUG")
    minted = await orm(device_of, alice)
    async with socket_client() as client:
        await client.authenticate(minted.token)
        await client.send_text(json.dumps({"type": "nope", "data": {"token": minted.token}}))
        await client.next_frame(ServerFrame.ERROR)
        assert await client.closed_with() == CloseCode.UNAUTHORIZED
    assert f"[WebSocket] Connection closed for user {alice.pk}: code={CloseCode.UNAUTHORIZED.value}" in caplog.messages
    assert minted.token not in caplog.text


# Memory -------------------------------------------------------------------------------------------


@pytest.fixture
def consumers_made(monkeypatch) -> list[weakref.ref]:
    """Weak references to every socket consumer made while the test runs."""
    made: list[weakref.ref] = []
    real_init = SocketConsumer.__init__

    def recording_init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        made.append(weakref.ref(self))

    monkeypatch.setattr(SocketConsumer, "__init__", recording_init)
    return made


@pytest.mark.usefixtures("without_the_collector")
async def test_an_ended_socket_is_freed_without_waiting_for_the_collector(alice, device_of, consumers_made):
    # An ended socket left in a reference cycle waits for the collector's full pass, and under
    # connect churn that pass paused the whole process for tens of milliseconds.
    minted = await orm(device_of, alice)
    async with socket_client() as client:
        await client.authenticate(minted.token)
        await client.send_frame(ClientFrame.PING, {}, ref="r1")
        await client.next_frame(ServerFrame.PONG)
    del client
    assert len(consumers_made) == 1
    await auntil(lambda: consumers_made[0]() is None, what="the ended consumer freed")
