"""Clients for /ws/ in tests: a real socket to a daphne server, or an in-process WebsocketCommunicator.

Real sockets (blocking, the `websockets` library; pair with `daphne_server` from tests/support/server.py):

    with open_socket(server) as ws:                  # no Origin header (a non-browser client)
        hello = authenticate(ws, session.token)      # the `authenticated` frame (fails on anything else)
        send_frame(ws, ClientFrame.PING, {}, ref="1")
        frame = next_frame(ws, ServerFrame.PONG)     # skips other frame types; bounded wait
        assert closed_with(ws) == CloseCode.UNAUTHORIZED   # waits (bounded) for the server's close code
    open_socket(server, origin=server.origin)        # a browser's socket, with the site's Origin

websockets wants each connection used as a context manager; a socket held across calls enters an
ExitStack (tests/operations/test_sentinel.py's Listener).

A test that something is freed by reference counting alone takes the `without_the_collector` fixture.

A frame handler called directly (with a RecordingSocket's ctx) that must refuse:

    refusal = await refusal_of(handler, ctx, data)   # the `error` frame's code and message
    assert refusal.code == ErrorCode.NOT_FOUND

In process (async; the consumer behind the origin check, on the configured channel layer):

    async with socket_client(headers=[(b"origin", b"http://localhost")]) as client:
        await client.send_frame(ClientFrame.AUTHENTICATE, {"token": token})
        frame = await client.next_frame(ServerFrame.AUTHENTICATED)
        assert await client.closed_with() == CloseCode.FORBIDDEN

Tests using the in-process client need `transactional_db`: the consumer reaches the database from
its own thread, which does not see a test transaction.
"""

from __future__ import annotations

import gc
import json
import time
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from rest_framework.exceptions import ValidationError
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from realtime.errors import JsonableError, as_error_data
from realtime.protocol import SCOPE_SEND_TEXTS_NOW, ClientFrame, ServerFrame

WAIT = 5.0  # seconds: the bound on every wait for a frame or a close


def encode(frame_type: str, data: Any = None, ref: str | None = None) -> str:
    """Return a client frame as JSON text."""
    frame: dict[str, Any] = {"type": str(frame_type)}
    if data is not None:
        frame["data"] = data
    if ref is not None:
        frame["ref"] = ref
    return json.dumps(frame)


# Real sockets -----------------------------------------------------------------------------------


def open_socket(server, *, origin: str | None = None, path: str = "/ws/", **options) -> ClientConnection:
    """Open a WebSocket to a daphne server (no Origin header unless given)."""
    headers = {"Origin": origin} if origin is not None else None
    return connect(
        f"ws://127.0.0.1:{server.port}{path}",
        additional_headers=headers,
        open_timeout=WAIT,
        close_timeout=2,
        max_size=None,
        **options,
    )


def send_frame(ws: ClientConnection, frame_type: str, data: Any = None, ref: str | None = None) -> None:
    """Send one client frame."""
    ws.send(encode(frame_type, data, ref))


def next_frame(ws: ClientConnection, frame_type: str | None = None, *, timeout: float = WAIT) -> dict:
    """Return the next frame (of the given type, skipping others) within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {frame_type or 'frame'} within {timeout}s")
        try:
            frame = json.loads(ws.recv(timeout=remaining))
        except TimeoutError:
            raise AssertionError(f"no {frame_type or 'frame'} within {timeout}s") from None
        if frame_type is None or frame["type"] == str(frame_type):
            return frame


def closed_with(ws: ClientConnection, *, timeout: float = WAIT) -> int:
    """Wait until the server closes the socket; return its close code (frames before it are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"socket still open after {timeout}s")
        try:
            ws.recv(timeout=remaining)
        except TimeoutError:
            raise AssertionError(f"socket still open after {timeout}s") from None
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else 1006


def authenticate(ws: ClientConnection, token: str, *, ref: str | None = None) -> dict:
    """Send `authenticate` and return the `authenticated` frame (a presence.snapshot follows it)."""
    send_frame(ws, ClientFrame.AUTHENTICATE, {"token": token}, ref)
    frame = next_frame(ws)
    assert frame["type"] == ServerFrame.AUTHENTICATED, frame
    return frame


@pytest.fixture
def socket_opener():
    """Return open_socket, every socket it opens closed after the test (for sockets a `with` cannot hold)."""
    with ExitStack() as stack:
        yield lambda server, **options: stack.enter_context(open_socket(server, **options))


# Frame handlers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """What the `error` frame of a refused client frame says."""

    code: str
    message: str


async def refusal_of(handler, ctx, data: dict, ref: str | None = None) -> Refusal:
    """Call a frame handler that must refuse the frame; return the `error` frame's code and message."""
    with pytest.raises((JsonableError, ValidationError)) as refused:
        await handler(ctx, data, ref)
    return Refusal(**as_error_data(refused.value))


# In process -------------------------------------------------------------------------------------


class SocketClient:
    """An in-process client of the /ws/ application (a thin layer over WebsocketCommunicator)."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.written_now: list[list[str]] = []  # each write the consumer made through SCOPE_SEND_TEXTS_NOW: its frames

    def send_texts_now(self, texts: list[str]) -> None:
        """Play daphne's SCOPE_SEND_TEXTS_NOW: the frames reach the client at once, in order with the others."""
        self.written_now.append(list(texts))
        for text in texts:
            self.communicator.output_queue.put_nowait({"type": "websocket.send", "text": text})

    async def send_text(self, text: str) -> None:
        await self.communicator.send_to(text_data=text)

    async def send_bytes(self, data: bytes) -> None:
        await self.communicator.send_to(bytes_data=data)

    async def send_frame(self, frame_type: str, data: Any = None, ref: str | None = None) -> None:
        await self.send_text(encode(frame_type, data, ref))

    async def next_frame(self, frame_type: str | None = None, *, timeout: float = WAIT) -> dict:
        """Return the next frame (of the given type, skipping others); fail on a close or after `timeout`."""
        loop_deadline = time.monotonic() + timeout
        while True:
            output = await self.communicator.receive_output(timeout=max(0.0, loop_deadline - time.monotonic()))
            assert output["type"] == "websocket.send", f"expected a frame, got {output}"
            frame = json.loads(output["text"])
            if frame_type is None or frame["type"] == str(frame_type):
                return frame

    async def next_text(self, wanted, *, timeout: float = WAIT) -> str:
        """Return the raw text of the next frame for which wanted(text) holds, skipping others."""
        deadline = time.monotonic() + timeout
        while True:
            output = await self.communicator.receive_output(timeout=max(0.0, deadline - time.monotonic()))
            assert output["type"] == "websocket.send", f"expected a frame, got {output}"
            if wanted(output["text"]):
                return output["text"]

    async def closed_with(self, *, timeout: float = WAIT) -> int:
        """Wait for the application to close the socket; return the code (frames before it are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            output = await self.communicator.receive_output(timeout=max(0.0, deadline - time.monotonic()))
            if output["type"] == "websocket.close":
                return output.get("code", 1000)

    async def authenticate(self, token: str) -> dict:
        """Send `authenticate` and return the `authenticated` frame (a presence.snapshot follows it)."""
        await self.send_frame(ClientFrame.AUTHENTICATE, {"token": token})
        frame = await self.next_frame()
        assert frame["type"] == ServerFrame.AUTHENTICATED, frame
        return frame

    async def nothing_more(self, timeout: float = 0.1) -> bool:
        return await self.communicator.receive_nothing(timeout=timeout)


@asynccontextmanager
async def socket_client(*, path: str = "/ws/", headers: list[tuple[bytes, bytes]] | None = None, send_text_now: bool = False):
    """Connect an in-process client to the WebSocket application; disconnect it afterwards.

    `send_text_now`: the server offers SCOPE_SEND_TEXTS_NOW, as dedwen's daphne does (`client.written_now`).
    """
    from realtime.routing import websocket_application

    communicator = WebsocketCommunicator(websocket_application, path, headers=headers or [])
    client = SocketClient(communicator)
    if send_text_now:  # the application reads its scope once it runs, in connect()
        communicator.scope["extensions"] = {SCOPE_SEND_TEXTS_NOW: client.send_texts_now}
    connected, _ = await communicator.connect(timeout=WAIT)
    assert connected, "handshake refused"
    try:
        yield client
    finally:
        await communicator.disconnect(timeout=WAIT)


@pytest.fixture
def without_the_collector():
    """Run the test with the cyclic collector off: only what reference counting frees is freed."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
