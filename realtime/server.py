"""The protocol server's own limits: daphne, Twisted and autobahn set up the way the contract needs.

The contract's command is the stock `daphne -b HOST -p PORT dedwen.asgi:application`, so nothing
here can be a command-line option. `dedwen.asgi` calls `install()` when the `daphne` command
imports it; that makes the command build a `DedwenServer` (daphne's `Server` with these changes,
most applied to the factories `Server.run` creates, before the reactor accepts any connection):

- WebSocket messages and frames are capped a little above DEDWEN_WS_MAX_FRAME (daphne's default
  is 1 MiB whatever the application's limit): the application still closes a frame just over its
  limit with 4413, and autobahn closes a larger one with 1009 before buffering it whole.
- autobahn fails a connection with a close frame (1007 for invalid UTF-8, 1009, 1002) instead of
  dropping the TCP connection (1006): `failByDrop` off.
- SIGTERM drains (realtime/drain.py) before the reactor stops: `/readyz` turns 503, the sockets
  get `goaway` and a 4001 close spread over DEDWEN_DRAIN_SECONDS, and only then does the reactor
  stop, which runs the "before shutdown" triggers (daphne cancelling what is left, presence's clean
  stop). Twisted's own SIGTERM handler would stop the reactor at once; it is replaced once the
  reactor runs (after Twisted installed its handlers). A second SIGTERM stops at once.
- Each socket is a `SocketProtocol`, which closes a client that leaves more than
  DEDWEN_WS_SEND_BUFFER bytes unread with 4409; and HTTP is served by `BoundedHTTPChannel`, which
  answers an over-long request line (414) or header (431) so that the client can read the answer.
- A socket writes its text frames itself: an unmasked frame handed to the kernel at once when
  nothing is buffered, and those that follow it in the same event-loop turn together at the turn's
  end (`SocketProtocol._send_text_frame`, `_write_turns`, `write_now`); autobahn and Twisted's
  buffered write remain for everything else (docs/performance.md, "Sending a frame").
- daphne's once-a-second checker visits only the connections whose application ended or whose
  client left (`DedwenServer.application_checker`), not every open socket.
- A socket's scope carries the server extension SCOPE_SEND_TEXTS_NOW: the consumer relays
  published frames through it synchronously, from the task that delivers them to every member,
  the ones a delivery brings it together in one write.

This reaches into daphne's `Server.run` (the factories it names `http_factory` and `ws_factory`)
and its `connections` table, autobahn's send state, Twisted's `FileDescriptor` write buffer,
`tcp.Server` socket and `HTTPChannel` internals: pyproject.toml pins the daphne, twisted and
autobahn versions this was written against.
"""

from __future__ import annotations

import asyncio
import json
import logging
import pprint
import signal
import struct
import time
from collections.abc import Sequence

from autobahn.websocket import protocol as autobahn_protocol
from daphne.access import AccessLogGenerator
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from django.conf import settings
from twisted.internet import tcp
from twisted.web import http

from realtime import drain
from realtime.errors import error_body
from realtime.protocol import SCOPE_SEND_TEXTS_NOW, CloseCode

logger = logging.getLogger("dedwen.realtime.server")
daphne_logger = logging.getLogger("daphne.server")  # what daphne's own checker logs under: operators' filters keep working

# An HTTP request refused for its size: how much more of it is read (and discarded) after the
# answer, and for how long, before the connection is aborted. Reading it is what keeps the kernel
# from answering unread input with a reset that would destroy the answer.
REFUSED_REQUEST_DRAIN_BYTES = 1 << 20
REFUSED_REQUEST_DRAIN_SECONDS = 5.0
# A socket closed for not reading (4409): how long its client has to drain what was queued and read
# the close frame before the connection is aborted and the queued frames are freed.
SLOW_READER_CLOSE_SECONDS = 5.0


def transport_message_limit() -> int:
    """Return the largest WebSocket message autobahn accepts: DEDWEN_WS_MAX_FRAME plus a quarter."""
    return settings.DEDWEN_WS_MAX_FRAME + settings.DEDWEN_WS_MAX_FRAME // 4


def unsent_bytes(transport) -> int:
    """Return the bytes written to a Twisted transport that it has not yet handed to the kernel.

    Twisted's FileDescriptor (TCP and Unix sockets) keeps them in `dataBuffer` from `offset` on plus
    `_tempDataLen` bytes in `_tempDataBuffer` (its `_isSendBufferFull` reads the same fields); a
    wrapping transport (TLS) is looked through to the socket's. Internals: twisted is pinned.
    """
    while not hasattr(transport, "dataBuffer") and getattr(transport, "transport", None) is not None:
        transport = transport.transport
    return len(transport.dataBuffer) - transport.offset + transport._tempDataLen


def write_now(transport, data: bytes) -> None:
    """Write bytes to a Twisted transport, handing them to the kernel at once when it holds nothing unsent.

    Twisted's `FileDescriptor.write` only buffers and registers the socket for writing; the send
    happens on the next reactor turn. For a plain TCP connection (no TLS layer) with an empty
    buffer, still connected and not closing, this sends right away, as asyncio's transports do,
    and gives what the kernel did not take to `write` (so order is kept and Twisted's buffering,
    producer pausing and error handling apply to the rest). Any other transport, or a send that
    fails with anything but "would block", goes through `write` whole: Twisted meets the error
    on its own path and closes the connection as usual. Internals (`socket`, the buffer fields read
    by `unsent_bytes`, `TLS`, `disconnecting`, `_writeDisconnected`): twisted is pinned.
    """
    if (
        type(transport) is not tcp.Server
        or transport.TLS
        or not transport.connected
        or transport.disconnecting
        or transport._writeDisconnected
        or transport._tempDataLen
        or transport.offset != len(transport.dataBuffer)
    ):
        transport.write(data)
        return
    try:
        sent = transport.socket.send(data)
    except (BlockingIOError, InterruptedError):
        sent = 0
    except OSError:
        transport.write(data)
        return
    if sent < len(data):
        transport.write(data[sent:])


class _TurnWrites:
    """The sockets written to during one event-loop turn: the frames each got after its first leave in one `write_now` when the turn ends.

    A presence tick or a message with its notification gives one socket several frames in a turn;
    a send per frame cost the kernel's loopback path (about 14 µs) each time.
    """

    __slots__ = ("sockets",)

    def __init__(self) -> None:
        self.sockets: list[SocketProtocol] = []

    def run(self, loop: asyncio.AbstractEventLoop) -> None:
        del _write_turns[loop]
        for socket in self.sockets:
            socket._write_frames()


# The sockets with frames waiting for the end of the current turn, by event loop (daphne runs one).
_write_turns: dict[asyncio.AbstractEventLoop, _TurnWrites] = {}


def _write_at_turn_end(loop: asyncio.AbstractEventLoop, socket: SocketProtocol) -> None:
    """Write the socket's waiting frames when the running loop's turn ends; call once per turn and socket."""
    turn = _write_turns.get(loop)
    if turn is None:
        turn = _write_turns[loop] = _TurnWrites()
        loop.call_soon(turn.run, loop)
    turn.sockets.append(socket)


# Unmasked server text frame headers (RFC 6455 §5.2): FIN + opcode 1, then the payload length.
_TEXT_HEADERS = [bytes((0x81, length)) for length in range(126)]
_HEADER_16 = struct.Struct("!BBH")
_HEADER_64 = struct.Struct("!BBQ")


def _text_frame(text: str) -> tuple[bytes, int]:
    """Return an unmasked server text frame of the text, and its payload's length in bytes."""
    payload = text.encode("utf8")
    length = len(payload)
    if length <= 125:
        header = _TEXT_HEADERS[length]
    elif length <= 0xFFFF:
        header = _HEADER_16.pack(0x81, 126, length)
    else:
        header = _HEADER_64.pack(0x81, 127, length)
    return header + payload, length


# The texts framed lately and their frames: a fan-out or a presence tick writes the same text
# objects to every member's socket, one after the other, so each is framed once. Found by identity
# (the entry keeps its text alive, so no other object can have its id), never by value: a text
# written once is not hashed. Bounded: it starts over at FRAMED_KEPT texts or FRAMED_BYTES_KEPT
# bytes of frames, and a larger frame is not kept.
FRAMED_KEPT = 64
FRAMED_BYTES_KEPT = 1 << 20
_framed: dict[int, tuple[str, bytes, int]] = {}  # id(text) -> (text, frame, payload length)
_framed_bytes = 0


def _frame_of(text: str) -> tuple[bytes, int]:
    """Return the text's frame and payload length, framed once while it is among the texts framed lately."""
    global _framed_bytes
    found = _framed.get(id(text))
    if found is not None:
        return found[1], found[2]
    frame, length = _text_frame(text)
    if len(frame) <= FRAMED_BYTES_KEPT:
        if len(_framed) >= FRAMED_KEPT or _framed_bytes + len(frame) > FRAMED_BYTES_KEPT:
            _framed.clear()
            _framed_bytes = 0
        _framed[id(text)] = (text, frame, length)
        _framed_bytes += len(frame)
    return frame, length


class SocketProtocol(WebSocketProtocol):
    """daphne's WebSocket protocol, closing with 4409 a client that leaves too much unread.

    The application's frames go to the client through `serverSend`, which writes them to the
    transport at once: there is no other queue. After each, the bytes the transport still holds
    are measured; past DEDWEN_WS_SEND_BUFFER the socket takes no more frames and is closed with
    4409. The close frame waits behind the unread data: a client that drains it reads 4409, and one
    that does not is dropped by autobahn's close-handshake timeout, which frees the buffer.
    """

    slow_reader = False
    _frames: list[bytes] | None = None  # written to in this loop turn: the frames after the first, for its end (`_write_at_turn_end`)

    def _connectionMade(self) -> None:
        """Set the connection up as autobahn does, without the pretty-printed options it builds for a debug line.

        autobahn's `_connectionMade` runs `pprint.pformat` over its ~40 options on every connection
        to pass the text to `log.debug`, even when debug logging is off (about a tenth of an embedded
        connect's CPU). For that one call, while autobahn's debug log is off, its module's `pformat`
        returns a placeholder. Internals (the module global `pformat`): autobahn is pinned.
        """
        if _autobahn_debug_logged(self.log):
            super()._connectionMade()
            return
        autobahn_protocol.pformat = _not_formatted
        try:
            super()._connectionMade()
        finally:
            autobahn_protocol.pformat = pprint.pformat

    def dataReceived(self, data: bytes) -> None:
        """Hand what the client sent to autobahn, as its Twisted adapter does, without that adapter's debug line.

        The adapter highlights its debug line's arguments (`hltype`, `hlval`: about 3 µs) on every
        read of every socket, even when debug logging is off: 2.2 % of an embedded connect's
        samples (`bin/bench --servers dedwen --only connect --py-spy DIR`, four runs), and a read
        per frame after it. While autobahn's debug log is off, the
        bytes go straight to `_dataReceived`, which is all the adapter does besides the line.
        """
        if _autobahn_debug_logged(self.log):
            super().dataReceived(data)
            return
        self._dataReceived(data)

    def serverSend(self, content, binary=False):
        """Send a frame, unless the client is gone or being closed for not reading; close it when it falls behind.

        A client may close while the application still has frames for it (the presence snapshot
        right after `authenticated`, under connect churn): autobahn refuses a send once the closing
        handshake began, by raising, which daphne would log as an application error. The frame is
        dropped instead; the application is told of the close by the `websocket.disconnect` that follows.
        """
        if self._dropping():
            return  # dropped: the socket is closing, and the client reconnects and syncs
        if binary or not self._send_text_frame(content):
            super().serverSend(content, binary)
            self._close_if_behind()

    def _dropping(self) -> bool:
        """Return whether frames for this socket are dropped: it is closing, or closed for not reading."""
        return self.slow_reader or self.state in (self.STATE_CLOSING, self.STATE_CLOSED)

    def _close_if_behind(self) -> None:
        """Close the socket with 4409 once the bytes written but not taken by the kernel pass DEDWEN_WS_SEND_BUFFER."""
        if self.transport is None or self.slow_reader:
            return
        unread = unsent_bytes(self.transport)
        if unread and unread > settings.DEDWEN_WS_SEND_BUFFER:  # the settings lookup only when the kernel left some
            self.slow_reader = True
            self.closeHandshakeTimeout = SLOW_READER_CLOSE_SECONDS  # autobahn's option, read by sendClose
            logger.info("[WebSocket] Closing a slow reader with %s: %s bytes unread", int(CloseCode.SLOW_READER), unread)
            self.sendClose(code=int(CloseCode.SLOW_READER))

    def _send_text_frame(self, text: str) -> bool:
        """Write one text message as a single unmasked frame, if nothing asks for autobahn's own path; return whether it did.

        autobahn's `sendMessage` → `sendFrame` → `sendData` spends a few microseconds per frame on
        checks, traffic counters and debug calls, and Twisted's `write` only buffers: the bytes
        leave on the next reactor turn, after registering the socket for writing (an `epoll_ctl`),
        a writable callback, and unregistering it (another). With one frame per socket per turn
        (fan-out, presence announcements) that is most of a frame's cost. Here the frame
        (RFC 6455 §5.2: FIN + opcode 1, then a 7-, 16- or 64-bit length; a server does not mask)
        is built in one piece and handed to the kernel at once when the transport holds nothing
        unsent (`write_now`), as asyncio's transports do: the client reads it while the server goes
        on delivering to the others. The frames that follow it in the same event-loop turn (a
        presence tick, a message with its notification) wait for the turn's end and leave together,
        in one send (`_write_frames`).

        autobahn's path is taken instead whenever its frame would differ or it keeps state about
        the send: not OPEN (daphne accepts a CONNECTING socket first), permessage-deflate
        negotiated (the server refuses it by default; `_perMessageCompress` is set only when
        accepted), an autobahn send queue (`send_queue`, chopped or sync sends) not empty, frame or
        octet logging, timing tracking, server-side masking, automatic fragmentation, or a message
        over `maxMessagePayloadSize` (autobahn raises for it). Its traffic counters are not updated
        for these frames: dedwen reads none of them. Internals (these attributes): autobahn is pinned.
        """
        if not self._frames_written_here():
            return False
        frame, length = _frame_of(text)
        if 0 < self.maxMessagePayloadSize < length:
            return False
        self._write_frame_bytes(frame)
        return True

    def _frames_written_here(self) -> bool:
        """Return whether this socket's frames may be built and written here, rather than by autobahn (see `_send_text_frame`)."""
        return not (
            self.state != self.STATE_OPEN
            or self._perMessageCompress is not None
            or self.send_queue
            or self.logFrames
            or self.logOctets
            or self.trackedTimings
            or self.maskServerFrames
            or self.autoFragmentSize
        )

    def _write_frame_bytes(self, data: bytes) -> None:
        """Write frames now if they are the turn's first for this socket, else at the turn's end after the others."""
        if self._frames is not None:
            self._frames.append(data)
            return
        write_now(self.transport, data)
        self._close_if_behind()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # a sync caller: every frame is written at once
        self._frames = []
        _write_at_turn_end(loop, self)

    def _write_frames(self) -> None:
        """Write the frames that followed the turn's first in one piece, unless the connection went away; then check the client keeps up."""
        frames, self._frames = self._frames, None
        if not frames or self.transport is None or self.state == self.STATE_CLOSED:
            return  # none, or the connection was dropped: its client reconnects and syncs
        write_now(self.transport, frames[0] if len(frames) == 1 else b"".join(frames))
        self._close_if_behind()

    def sendData(self, data: bytes, sync: bool = False, chopsize: int | None = None) -> None:
        """Write the frames waiting for this turn's end first, then send as autobahn does (close, ping, its own frames), keeping order."""
        if self._frames:
            self._write_frames()
        super().sendData(data, sync, chopsize)

    def send_text_now(self, text: str) -> None:
        """Send a text frame now, synchronously, as the application's `websocket.send` would."""
        self.serverSend(text, False)

    def send_texts_now(self, texts: Sequence[str]) -> None:
        """Send text frames now, synchronously, in order, in one write when they take this module's path (the SCOPE_SEND_TEXTS_NOW extension)."""
        if len(texts) == 1:
            self.serverSend(texts[0], False)
            return
        if self._dropping():
            return  # dropped, as serverSend drops them
        if self._frames_written_here():
            frames, lengths = zip(*map(_frame_of, texts))
            if not 0 < self.maxMessagePayloadSize < max(lengths):
                self._write_frame_bytes(b"".join(frames))
                return
        for text in texts:
            self.serverSend(text, False)

    def onClose(self, wasClean, code, reason):
        """Tell the application the socket closed with 4409 when that is why (autobahn may report 1006)."""
        super().onClose(wasClean, int(CloseCode.SLOW_READER) if self.slow_reader else code, reason)

    def connectionLost(self, reason):
        """End the connection as autobahn does, then drop its `is_closed`, which it resolved with the protocol itself.

        That reference cycle left every ended socket to the collector's full pass, which paused the
        process for tens of milliseconds per pass under connect churn (docs/performance.md,
        "Collector pauses"). Nothing reads `is_closed` once the connection is lost: autobahn
        resolves it only while the state is not yet CLOSED. Internals: autobahn is pinned.
        """
        super().connectionLost(reason)
        self.is_closed = None


def _not_formatted(obj) -> str:
    return "(not formatted)"


def _autobahn_debug_logged(log) -> bool:
    """Return whether autobahn's (txaio) logger of a protocol writes debug lines (else its `debug` is a no-op)."""
    return getattr(log, "_log_level", "debug") in ("debug", "trace")


class BoundedHTTPChannel(http.HTTPChannel):
    """Twisted's HTTP/1.1 channel, answering a request over its size limits so the client can read it.

    Twisted drops the connection without a word on a request line or header line over 16 KiB
    (LineReceiver.lineLengthExceeded), and answers a bad request with a bare 400 followed by a close
    while unread input remains, which the kernel turns into a reset that can destroy the answer.
    Here the answer (414, 431 or 400, JSON) is written, the write side is shut (FIN after it), and
    what the client still sends is read and discarded, within REFUSED_REQUEST_DRAIN_BYTES and
    REFUSED_REQUEST_DRAIN_SECONDS, until it closes.
    """

    _refused = False
    _discarded = 0
    _drain_deadline = None

    def lineLengthExceeded(self, line):
        """Answer 414 for the request line, 431 for a header line."""
        request_line = getattr(self, "_HTTPChannel__first_line", 0)  # Twisted's own flag (pinned)
        if request_line:
            self._refuse(b"414 URI Too Long", "request_line_too_long", "the request line is too long", len(line))
        else:
            self._refuse(b"431 Request Header Fields Too Large", "headers_too_large", "a request header is too long", len(line))

    def _respondToBadRequestAndDisconnect(self):
        """Answer 400 (too many or too large headers, a malformed request) the same readable way."""
        self._refuse(b"400 Bad Request", "bad_request", "the request could not be parsed", 0)

    def _refuse(self, status: bytes, code: str, message: str, received: int) -> None:
        if self._refused:
            return
        self._refused = True
        body = json.dumps(error_body(code, message)).encode()
        self.transport.write(
            b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        self.setTimeout(None)
        self._networkProducer.unregisterProducer()  # else a paused channel would hold the FIN back
        self.transport.loseWriteConnection()
        self.transport.resumeProducing()
        self._drain_deadline = self.callLater(REFUSED_REQUEST_DRAIN_SECONDS, self.transport.abortConnection)
        self._discard(received)

    def _discard(self, size: int) -> None:
        self._discarded += size
        if self._discarded > REFUSED_REQUEST_DRAIN_BYTES:
            self.transport.abortConnection()

    def dataReceived(self, data):
        if self._refused:
            self._discard(len(data))
            return
        super().dataReceived(data)

    def lineReceived(self, line):
        if not self._refused:  # lines already buffered when the request was refused are not parsed
            super().lineReceived(line)

    def rawDataReceived(self, data):
        if not self._refused:
            super().rawDataReceived(data)

    def connectionLost(self, reason):
        if self._drain_deadline is not None and self._drain_deadline.active():
            self._drain_deadline.cancel()
        super().connectionLost(reason)


def bounded_http_protocol():
    """Build the HTTP protocol for one connection: Twisted's HTTP/1.1-or-HTTP/2 switch around BoundedHTTPChannel."""
    return http._GenericHTTPChannelProtocol(BoundedHTTPChannel())  # Twisted's own wrapper (pinned)


class LoggedAccessLog(AccessLogGenerator):
    """daphne's access log, written as records of the `daphne.access` logger instead of raw stdout lines.

    Its lines then take DEDWEN_LOG_FORMAT (one JSON object each in `json`) and the token redaction.
    """

    def write_entry(self, host, date, request, status=None, length=None, ident=None, user=None):
        access_logger.info('%s "%s" %s %s', host, request, status or "-", length or "-")


access_logger = logging.getLogger("daphne.access")


class DedwenServer(Server):
    """daphne's server with dedwen's WebSocket limits and protocols (see the module docstring)."""

    def __init__(self, *args, **kwargs) -> None:
        limit = transport_message_limit()
        kwargs["websocket_max_message_size"] = limit
        kwargs["websocket_max_frame_size"] = limit
        if kwargs.get("action_logger") is not None:
            kwargs["action_logger"] = LoggedAccessLog(None)  # the access log goes through logging (and its format)
        self._to_reap: set = set()  # the connections application_checker visits (its docstring)
        self._then_ready = kwargs.get("ready_callable")
        kwargs["ready_callable"] = self._configure_factories
        super().__init__(*args, **kwargs)

    def create_application(self, protocol, scope):
        """Make the application for a connection; a dedwen socket's scope offers SCOPE_SEND_TEXTS_NOW."""
        if isinstance(protocol, SocketProtocol):
            scope["extensions"] = {**scope.get("extensions", {}), SCOPE_SEND_TEXTS_NOW: protocol.send_texts_now}
        queue = super().create_application(protocol, scope)
        instance = self.connections.get(protocol, {}).get("application_instance")
        if instance is not None:
            instance.add_done_callback(lambda _done, protocol=protocol: self._to_reap.add(protocol))
        return queue

    def application_checker(self):
        """Once a second, reap the connections whose application ended or whose client left, as daphne's checker does, visiting only those.

        daphne's own checker visits every connection each second. With 10,000 idle sockets that is
        a 10,000-step pass holding the event loop every second, for nothing: an open socket whose
        application still runs has nothing to reap. Here a connection is visited once its
        application has ended (a done callback) or its client has left (`protocol_disconnected`),
        and for as long as daphne would keep it. What is done with it is daphne's rule: an
        application still running `application_close_timeout` seconds after its client left is
        cancelled; an ended one has its exception logged (and answered, while the client is
        there) and is dropped; a connection with neither application nor client is forgotten.
        Internals (`connections` and its keys, the checker's one-second reschedule): daphne is pinned.
        """
        from twisted.internet import reactor

        self.reap_ended()
        reactor.callLater(1, self.application_checker)

    def reap_ended(self) -> None:
        """Do the checker's work once, for the connections whose application ended or whose client left."""
        now = time.time()
        for protocol in list(self._to_reap):
            details = self.connections.get(protocol)
            if details is None:
                self._to_reap.discard(protocol)
                continue
            disconnected = details.get("disconnected")
            instance = details.get("application_instance")
            if disconnected and now - disconnected > self.application_close_timeout and instance and not instance.done():
                daphne_logger.warning("application for %r still running %.0f s after its client left: cancelled", protocol, now - disconnected)
                instance.cancel()
            if instance is not None and instance.done():
                self._reap(protocol, instance, disconnected=bool(disconnected))
                del details["application_instance"]
                instance = None
            if instance is None and disconnected:
                del self.connections[protocol]
            if protocol not in self.connections or (instance is None and not disconnected):
                self._to_reap.discard(protocol)

    def _reap(self, protocol, instance: asyncio.Future, *, disconnected: bool) -> None:
        """Log how an ended application ended, if it raised; answer the client with the error while it is still there."""
        try:
            exception = instance.exception()
        except asyncio.CancelledError:
            return
        if exception is None:
            return
        if isinstance(exception, KeyboardInterrupt):  # daphne's way for a test to stop the server
            self.stop()
            return
        daphne_logger.error("Exception inside application: %s", exception, exc_info=exception)
        if not disconnected:
            protocol.handle_exception(exception)

    def protocol_disconnected(self, protocol):
        """Record a protocol's end as daphne does; for a request upgraded to a WebSocket, also take it off its HTTP channel's list.

        daphne's upgrade leaves the request in the abandoned channel's `requests`, and the request
        refers to the channel: a cycle that outlives the collector's young passes (daphne keeps the
        request for up to a second) and is freed only by its full pass, which under connect churn
        paused the process for tens of milliseconds (docs/performance.md, "Collector pauses").
        An upgraded request is the one whose transport daphne handed to the WebSocket protocol;
        a finished one has already left the list. Internals (`transport`, `channel`, `requests`):
        daphne and twisted are pinned.
        """
        super().protocol_disconnected(protocol)
        self._to_reap.add(protocol)
        channel = getattr(protocol, "channel", None)
        if getattr(protocol, "transport", True) is None and channel is not None and protocol in channel.requests:
            channel.requests.remove(protocol)

    def _configure_factories(self) -> None:
        """Run by `Server.run` once it has made its factories, before the reactor accepts a connection."""
        self.ws_factory.protocol = SocketProtocol
        self.ws_factory.setProtocolOptions(failByDrop=False)
        self.http_factory.protocol = bounded_http_protocol
        if self.signal_handlers:
            from twisted.internet import reactor

            reactor.callWhenRunning(self._drain_on_sigterm)
        if self._then_ready is not None:
            self._then_ready()


    def _drain_on_sigterm(self) -> None:
        """Replace Twisted's SIGTERM handler (installed by now) with the drain."""
        from twisted.internet import reactor

        signal.signal(signal.SIGTERM, lambda signum, frame: reactor.callFromThread(self._sigterm))

    def _sigterm(self) -> None:
        """Drain, then stop the reactor; a second SIGTERM stops it at once."""
        from twisted.internet import defer

        if drain.draining():
            logger.warning("second SIGTERM: stopping without waiting for the drain")
            self.stop()
            return
        done = defer.Deferred.fromFuture(asyncio.ensure_future(drain.run()))
        done.addErrback(lambda failure: logger.error("drain failed: %s", failure.getErrorMessage()))
        done.addBoth(lambda _: self.stop())


def install() -> None:
    """Make the stock `daphne` command, which is importing this application, run a DedwenServer.

    daphne's CommandLineInterface builds its server from the class attribute `server_class`, its
    extension point for subclasses; the `daphne` script instantiates the base class itself, so the
    attribute is set there. The command imports the application before it builds the server.
    """
    from daphne.cli import CommandLineInterface

    CommandLineInterface.server_class = DedwenServer
