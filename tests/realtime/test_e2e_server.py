"""The protocol server's own limits against a real daphne, seen through raw sockets.

Over-long HTTP requests are answered readably; a client that stops reading is closed with 4409
while a reading one is unaffected (realtime/server.py).
"""

from __future__ import annotations

import asyncio

import json
import socket
import weakref
from collections import deque

import pytest
import txaio
from autobahn.twisted.websocket import WebSocketAdapterProtocol
from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure

from messaging.protocol import MessagingClientFrame, MessagingServerFrame
from realtime.protocol import SCOPE_SEND_TEXTS_NOW, ClientFrame, CloseCode, ServerFrame
from realtime.server import DedwenServer, SocketProtocol
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


# Sending a frame: dedwen writes an open socket's text frames itself (SocketProtocol._send_text_frame).

MULTI_BYTE = "é€😀"  # 2, 3 and 4 bytes in UTF-8


def next_text(ws, frame_type: str) -> str:
    """Return the next frame of `frame_type` as the text received (others skipped), within WAIT seconds."""
    while True:
        text = ws.recv(timeout=WAIT)
        if json.loads(text)["type"] == frame_type:
            return text


def wire_length(text: str) -> int:
    return len(text.encode("utf-8"))


def test_frames_of_every_length_class_reach_a_real_client_intact(daphne_server, alice, bob, device_of):
    # RFC 6455 lengths: 7 bits up to 125 bytes, 16 bits up to 65535, 64 bits above; multi-byte
    # UTF-8 in each, so a length counted in characters instead of bytes would break the stream.
    server = daphne_server(DEDWEN_WS_MAX_FRAME="524288", DEDWEN_MESSAGE_MAX_LENGTH="250000", DEDWEN_WS_RATE="100000/100000")
    conversation = direct(alice, bob)
    with open_socket(server) as sender, open_socket(server) as reader:
        authenticate(sender, device_of(alice).token)
        authenticate(reader, device_of(bob).token)
        lengths = set()

        def pong(ref: str) -> int:
            send_frame(reader, ClientFrame.PING, {}, ref=ref)
            text = next_text(reader, ServerFrame.PONG)
            assert json.loads(text)["ref"] == ref
            return wire_length(text)

        sent = iter(range(10_000))

        def delivered(body: str) -> int:
            send_frame(sender, MessagingClientFrame.MESSAGE_SEND, {"conversation_id": conversation.pk, "body": body, "client_id": f"c{next(sent):04}"})
            text = next_text(reader, MessagingServerFrame.MESSAGE_NEW)
            assert json.loads(text)["data"]["message"]["body"] == body
            return wire_length(text)

        def sized(send, target: int) -> int:
            """Send until a frame of exactly `target` bytes arrived (the envelope's size varies a little)."""
            padding = 0
            for _ in range(4):
                length = send(MULTI_BYTE + "x" * padding)
                if length == target:
                    break
                padding += target - length
            return length

        for target in (124, 125, 126, 127):
            lengths.add(sized(pong, target))
        for target in (65535, 65536, 65537, 200_000):
            lengths.add(sized(delivered, target))
    assert {124, 125, 126, 127, 65535, 65536, 65537, 200_000} == lengths  # each side of each boundary


def test_a_client_offering_compression_is_refused_it_and_reads_plain_frames(daphne_server, alice, device_of):
    # The fast send path writes uncompressed frames; it is valid because the server never accepts
    # permessage-deflate (autobahn's default), which the `websockets` client offers by default.
    server = daphne_server()
    with open_socket(server, compression="deflate") as ws:
        assert ws.protocol.extensions == []
        authenticate(ws, device_of(alice).token)
        send_frame(ws, ClientFrame.PING, {}, ref=MULTI_BYTE)
        assert next_frame(ws, ServerFrame.PONG)["ref"] == MULTI_BYTE


class RecordingTransport:
    """A transport that keeps what is written (not a TCP connection, so `write_now` buffers through `write`)."""

    def __init__(self) -> None:
        self.written = b""
        self.writes = 0
        self.dataBuffer, self.offset, self._tempDataLen = b"", 0, 0  # Twisted's unsent bytes (realtime.server.unsent_bytes): none

    def write(self, data: bytes) -> None:
        self.written += data
        self.writes += 1


def open_protocol() -> SocketProtocol:
    """Return a SocketProtocol in the OPEN state with daphne's options and dedwen's limits, writing to a RecordingTransport."""
    from autobahn.websocket.protocol import TrafficStats
    from daphne.ws_protocol import WebSocketFactory

    from realtime.server import transport_message_limit

    factory = WebSocketFactory(None, server="daphne")
    factory.setProtocolOptions(failByDrop=False, maxMessagePayloadSize=transport_message_limit())
    protocol = factory.buildProtocol(None)
    protocol.__class__ = SocketProtocol
    for option in protocol.CONFIG_ATTRS:  # what autobahn copies from its factory when a connection is made
        setattr(protocol, option, getattr(factory, option))
    protocol.state = SocketProtocol.STATE_OPEN
    protocol.send_queue = deque()
    protocol.trackedTimings = None
    protocol.trafficStats = TrafficStats()
    protocol.client_addr = ["127.0.0.1", 50000]
    protocol._perMessageCompress = None
    protocol.transport = RecordingTransport()
    return protocol


@pytest.mark.parametrize("debug", [False, True], ids=["debug log off", "debug log on"])
def test_what_a_client_sends_reaches_autobahn_with_its_debug_line_built_only_when_logged(monkeypatch, debug):
    import autobahn.twisted.websocket as adapter

    highlighted, received = [], []
    real_hltype = adapter.hltype
    monkeypatch.setattr(adapter, "hltype", lambda obj: highlighted.append(obj) or real_hltype(obj))
    protocol = open_protocol()
    protocol.log = txaio.make_logger()
    protocol.log._set_log_level("debug" if debug else "info")
    monkeypatch.setattr(protocol, "_dataReceived", received.append)
    protocol.dataReceived(b"a frame's bytes")
    assert received == [b"a frame's bytes"]
    assert bool(highlighted) is debug


@pytest.mark.parametrize("characters", [0, 1, 41, 42, 125, 126, 21_845, 21_846, 25_000])
def test_the_frame_dedwen_writes_is_the_one_autobahn_would_write(characters):
    text = (MULTI_BYTE * characters)[:characters]
    ours, autobahns = open_protocol(), open_protocol()
    assert ours._send_text_frame(text)
    autobahns.sendMessage(text.encode("utf-8"), False)
    assert ours.transport.written == autobahns.transport.written


@pytest.mark.parametrize(
    "case",
    ["permessage-deflate negotiated", "frames queued by autobahn", "frames logged", "over the message limit"],
)
def test_a_frame_autobahn_would_write_differently_is_left_to_autobahn(case):
    protocol = open_protocol()
    text = "{}"
    if case == "permessage-deflate negotiated":
        protocol._perMessageCompress = object()
    elif case == "frames queued by autobahn":
        protocol.send_queue.append((b"x", True))
    elif case == "frames logged":
        protocol.logFrames = True
    else:
        text = "x" * (protocol.maxMessagePayloadSize + 1)
    assert not protocol._send_text_frame(text)
    assert protocol.transport.written == b""


async def test_the_server_gives_each_socket_a_send_that_writes_its_frame_at_once():
    # The consumer relays a published frame through this from the task that delivers it (consumer._offer).
    protocol, autobahns = open_protocol(), open_protocol()
    frame = '{"type":"presence","data":{"user_id":1,"status":"online"}}'

    async def application(scope, receive, send):
        scope["extensions"][SCOPE_SEND_TEXTS_NOW]([frame])

    server = DedwenServer(application, endpoints=["tcp:port=0:interface=127.0.0.1"])  # not listening: only the application is made
    server.connections = {protocol: {}}
    server.create_application(protocol, {"type": "websocket"})
    await server.connections[protocol]["application_instance"]
    autobahns.sendMessage(frame.encode("utf-8"), False)
    assert protocol.transport.written == autobahns.transport.written


async def test_the_frames_that_follow_a_sockets_first_in_one_loop_turn_leave_in_one_write_in_order():
    # A presence tick or a message with its notification gives a socket several frames at once.
    ours, autobahns = open_protocol(), open_protocol()
    frames = [f'{{"type":"presence","data":{{"user_id":{n}}}}}' for n in range(4)]
    for frame in frames:
        ours.send_text_now(frame)
        autobahns.sendMessage(frame.encode("utf-8"), False)
    assert ours.transport.writes == 1  # the first at once, the others wait for the end of the turn
    await asyncio.sleep(0)  # the turn's writes were scheduled before this task's wake-up
    assert ours.transport.writes == 2
    assert ours.transport.written == autobahns.transport.written
    ours.send_text_now(frames[0])  # a new turn: at once again
    assert ours.transport.writes == 3


async def test_frames_sent_together_leave_in_one_write_framed_as_autobahn_frames_them():
    # What one delivery brings a socket (a presence tick's arrivals) is one send to the kernel.
    ours, autobahns = open_protocol(), open_protocol()
    frames = [f'{{"type":"presence","data":{{"user_id":{n}}}}}' for n in range(3)] + ['{"type":"x","data":"' + "y" * 300 + '"}']
    ours.send_texts_now(frames)
    for frame in frames:
        autobahns.sendMessage(frame.encode("utf-8"), False)
    assert ours.transport.writes == 1
    assert ours.transport.written == autobahns.transport.written
    ours.send_texts_now(frames[:2])  # the same turn: after the first write, they wait for its end
    assert ours.transport.writes == 1
    await asyncio.sleep(0)
    assert ours.transport.writes == 2
    assert ours.transport.written == autobahns.transport.written + autobahns.transport.written[: len(frames[0]) + len(frames[1]) + 4]


def test_the_frames_kept_for_the_next_socket_are_bounded_in_bytes():
    # A fan-out frames a text once for all its sockets; what is kept for that stays small, however large the texts.
    from realtime import server

    large = ['{"type":"presence.snapshot","data":"' + str(n) * 300_000 + '"}' for n in range(8)]
    for text in large:
        assert server._frame_of(text) == server._text_frame(text)
        assert sum(len(frame) for _, frame, _ in server._framed.values()) <= server.FRAMED_BYTES_KEPT
    huge = "x" * (server.FRAMED_BYTES_KEPT + 1)
    server._frame_of(huge)
    assert all(kept is not huge for kept, _, _ in server._framed.values())


def test_a_text_is_framed_once_while_it_is_kept():
    from realtime import server

    text = '{"type":"presence","data":{"user_id":1}}'
    first, _ = server._frame_of(text)
    assert server._frame_of(text)[0] is first
    assert server._frame_of("".join(["{", text[1:]]))[0] is not first  # an equal text of its own is framed again: by identity


def test_frames_sent_together_to_a_closing_socket_are_dropped():
    protocol = open_protocol()
    protocol.state = SocketProtocol.STATE_CLOSING
    protocol.send_texts_now(['{"type":"presence","data":{}}', '{"type":"presence","data":{}}'])
    assert protocol.transport.written == b""


async def test_a_frame_autobahn_sends_follows_the_frames_waiting_for_the_turn_end():
    protocol = open_protocol()
    protocol.send_text_now('{"type":"pong","data":{}}')
    protocol.send_text_now('{"type":"goaway","data":{}}')  # waits for the end of the turn
    protocol.sendClose(code=4001)  # autobahn's own path, as for `goaway`'s close
    written = protocol.transport.written
    assert written.startswith(bytes((0x81, 25)) + b'{"type":"pong","data":{}}' + bytes((0x81, 27)) + b'{"type":"goaway","data":{}}')
    assert written[56] == 0x88  # the close frame comes after the text frames
    await asyncio.sleep(0)
    assert protocol.transport.written == written  # and the text frame is not written twice


# Memory: an ended socket is freed by reference counting, not left to the collector's full pass,
# which under connect churn paused the whole process for tens of milliseconds.


@pytest.mark.usefixtures("without_the_collector")
def test_an_ended_socket_protocol_is_freed_though_autobahn_resolved_is_closed_with_it(monkeypatch):
    def autobahns_connection_lost(protocol, reason):  # the part of autobahn's that makes the cycle
        txaio.resolve(protocol.is_closed, protocol)

    monkeypatch.setattr(WebSocketAdapterProtocol, "connectionLost", autobahns_connection_lost)
    protocol = open_protocol()
    protocol.is_closed = txaio.create_future()
    protocol.connectionLost(Failure(ConnectionDone()))
    ended = weakref.ref(protocol)
    del protocol
    assert ended() is None


class HTTPChannelStandIn:
    def __init__(self) -> None:
        self.requests: list[RequestStandIn] = []


class RequestStandIn:
    def __init__(self, channel: HTTPChannelStandIn, *, upgraded: bool) -> None:
        self.channel = channel
        self.transport = None if upgraded else object()  # daphne hands an upgraded request's transport to the WebSocket protocol
        channel.requests.append(self)


def test_a_request_upgraded_to_a_websocket_leaves_its_http_channel_and_an_http_one_is_left_to_twisted():
    server = DedwenServer(None, endpoints=["tcp:port=0:interface=127.0.0.1"])  # not listening
    upgraded_channel, http_channel = HTTPChannelStandIn(), HTTPChannelStandIn()
    upgraded, answered = RequestStandIn(upgraded_channel, upgraded=True), RequestStandIn(http_channel, upgraded=False)
    server.connections = {upgraded: {}, answered: {}}
    server.protocol_disconnected(upgraded)
    server.protocol_disconnected(answered)
    assert upgraded_channel.requests == []
    assert http_channel.requests == [answered]
    assert all("disconnected" in server.connections[request] for request in (upgraded, answered))


# The checker daphne runs every second: what it reaps, and that it no longer passes over every socket.


class ConnectionsNotToScan(dict):
    """daphne's table of connections, refusing the pass over all of them that the checker must not make."""

    def items(self):
        raise AssertionError("the checker visited every connection")

    keys = values = __iter__ = items


class ClientStandIn:
    """A connection's protocol as the checker sees it: it can be answered an application's error."""

    def __init__(self) -> None:
        self.answered: list[BaseException] = []

    def handle_exception(self, exception: BaseException) -> None:
        self.answered.append(exception)


async def serving(paths: list[str]) -> tuple[DedwenServer, dict[str, ClientStandIn], asyncio.Event]:
    """Start an application per path on a server that is not listening: /open runs until released, /raise raises, others end."""
    release = asyncio.Event()

    async def application(scope, receive, send):
        if scope["path"] == "/open":
            await release.wait()
        elif scope["path"] == "/raise":
            raise ValueError("the application failed")

    server = DedwenServer(application, endpoints=["tcp:port=0:interface=127.0.0.1"])
    server.connections = ConnectionsNotToScan()
    clients = {}
    for path in paths:
        clients[path] = client = ClientStandIn()
        server.protocol_connected(client)
        server.create_application(client, {"type": "http", "path": path})
    ended = [server.connections[client]["application_instance"] for path, client in clients.items() if path != "/open"]
    if ended:
        await asyncio.wait(ended, timeout=WAIT)  # their done callbacks, added first, have run
    return server, clients, release


async def test_the_checker_reaps_what_ended_and_leaves_open_sockets_unvisited():
    server, clients, release = await serving(["/open", "/ended", "/left"])
    server.protocol_disconnected(clients["/left"])

    server.reap_ended()

    assert "application_instance" in server.connections[clients["/open"]]
    assert "application_instance" not in server.connections[clients["/ended"]]  # the client is still there
    assert clients["/left"] not in server.connections
    release.set()


async def test_an_application_that_raised_is_logged_as_daphne_logs_it_and_its_client_answered(caplog):
    server, clients, _ = await serving(["/raise"])

    server.reap_ended()

    [record] = [r for r in caplog.records if r.name == "daphne.server"]
    assert record.levelname == "ERROR"
    assert record.getMessage() == "Exception inside application: the application failed"
    assert [str(exc) for exc in clients["/raise"].answered] == ["the application failed"]


async def test_an_application_still_running_after_its_client_left_is_cancelled_then_forgotten(caplog):
    server, clients, _ = await serving(["/open"])
    client = clients["/open"]
    instance = server.connections[client]["application_instance"]
    server.protocol_disconnected(client)
    server.reap_ended()
    assert not instance.cancelled()  # within application_close_timeout: it may still finish

    server.connections[client]["disconnected"] -= server.application_close_timeout + 1
    server.reap_ended()
    await asyncio.wait([instance], timeout=WAIT)
    server.reap_ended()

    assert instance.cancelled()
    assert client not in server.connections
    assert any("still running" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
