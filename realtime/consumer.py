"""The one WebSocket consumer: first-frame JWT authentication, live expiry and revocation, frame dispatch."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone
from redis.exceptions import RedisError
from rest_framework.exceptions import ValidationError

from realtime import db, drain, registry
from realtime import metrics as m
from realtime.auth import Identity, Refusal, TokenRefused, authenticator
from realtime.clientip import scope_client_ip, scope_header
from realtime.connections import PROCESS_ID, REGISTRY, Connection, new_connection_id
from realtime.context import SocketContext
from realtime.errors import JsonableError, as_error_data
from realtime.frames import BadFrame, Frame, parse_frame
from realtime.protocol import (
    EVENT_DEVICE_REVOKED,
    EVENT_FRAME,
    EVENT_GOAWAY,
    SCOPE_SEND_TEXTS_NOW,
    ClientFrame,
    CloseCode,
    ErrorCode,
    GoawayReason,
    ServerFrame,
    device_group,
    user_group,
)
from realtime.publish import encode_frame
from realtime.ratelimit import TokenBucket
from realtime.slots import SLOTS

logger = logging.getLogger("dedwen.realtime.socket")

# What a backend outage looks like from here: the database (db.call), or Redis (layer, presence).
BACKEND_ERRORS: tuple[type[BaseException], ...] = (db.Unavailable, RedisError, OSError)


@functools.lru_cache(maxsize=256)
def _frames(direction: str, frame_type: str):
    """Return the dedwen_ws_frames series of one direction and frame type (prometheus' labels() is looked up once per pair).

    The types are the server's own frame names, the ones it answers, or INVALID_TYPE, never a
    client's own text: a bounded set. The cache is bounded all the same.
    """
    return m.WS_FRAMES.labels(direction=direction, type=frame_type)


@functools.lru_cache(maxsize=64)
def _closes(code: str):
    """Return the dedwen_ws_closes series of one close code (looked up once per code; the cache bounds the codes a client picks)."""
    return m.WS_CLOSES.labels(code=code)


def _count_out(frame_types: list[str]) -> None:
    """Count relayed frames as sent: one increment per frame type (a presence tick's are all one type)."""
    first = frame_types[0]
    if frame_types.count(first) == len(frame_types):
        _frames("out", str(first)).inc(len(frame_types))
        return
    for frame_type, count in Counter(frame_types).items():
        _frames("out", str(frame_type)).inc(count)


def _accept_first_token(token: object) -> tuple[Identity, dict[str, Any]]:
    """Check a socket's first token, then run the socket apps' prepare: one database-thread trip per connect."""
    identity = authenticator().authenticate(token)
    return identity, registry.prepare_all(identity)


class SocketConsumer(AsyncWebsocketConsumer):
    """A client socket at /ws/: closed with a contract code unless it authenticates with its first frame."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ctx: SocketContext | None = None  # set once authenticated
        self._opened_ctx: SocketContext | None = None  # the ctx the socket apps' open hooks were given
        self._joined: list[str] = []
        self._closed = False
        self._close_code: int | None = None
        self._bucket = TokenBucket(settings.DEDWEN_WS_RATE)
        self._deadline = 0.0  # loop time: the auth timeout, then the token's expiry
        self._deadline_code = CloseCode.AUTH_TIMEOUT
        self._recheck_at = float("inf")
        # One loop timer per socket, not a task: it fires at the earlier of the deadline and the re-check.
        self._timer: asyncio.TimerHandle | None = None
        self._tick: asyncio.Task | None = None  # the timer's work, while it runs
        self._closing: asyncio.Task | None = None  # a close started outside any dispatch
        self._turn = asyncio.Lock()  # one dispatch at a time, across the client's frames and the layer's events
        self._events: asyncio.Task | None = None  # the channel layer's receive pump, once subscribed
        self._dispatching = 0  # messages taken by a pump and not yet dispatched to the end (see _offer)
        self._send_texts_now = None  # the server's SCOPE_SEND_TEXTS_NOW, when it offers one
        self._slot_user: int | None = None  # the user whose SLOTS entry this socket holds
        self.connection_id: str | None = None  # named in `authenticated` and the live-connections registry
        self._accepted_at = 0.0  # loop time of the accept
        self._gauge_state: str | None = None  # the dedwen_ws_connections series this socket counts in

    # ASGI plumbing ------------------------------------------------------------------------------

    async def __call__(self, scope, receive, send):
        """Serve one socket; its channel-layer channel exists only once it has authenticated."""
        self.scope = scope
        self.base_send = send
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = None  # set by _subscribe, after a valid token
        self._send_texts_now = scope.get("extensions", {}).get(SCOPE_SEND_TEXTS_NOW)
        try:
            await self._pump(receive, self._turn)
        except StopConsumer:
            pass
        finally:
            self._stop_timer()
            self._release_slot()
            self._count_as(None)
            drain.untrack(self)
            if self.connection_id is not None:
                REGISTRY.forget_local(self.connection_id)  # cancelled without a disconnect (server shutdown)
            if self._events is not None:
                self._receive_directly(None)
                self._events.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):  # a failure was logged when it stopped
                    await self._events
            self._let_go()

    def _let_go(self) -> None:
        """Drop the socket's context, whose send_frame refers back to this consumer, so that the consumer is freed as soon as the socket ends.

        Otherwise every ended socket is a reference cycle that only the collector's full pass
        frees, and that pass, over what thousands of ended sockets left, paused the whole
        process for 50-100 ms at a time (docs/performance.md, "Collector pauses").
        """
        self.ctx = self._opened_ctx = None

    async def _subscribe(self, groups: list[str]) -> None:
        """Create the socket's channel in its groups and start receiving its channel-layer events (after authentication).

        An unauthenticated socket holds no channel: with Redis, no subscription is made for it. The
        channel and its groups are subscribed together (one SUBSCRIBE with dedwen's Redis layer).
        """
        self.channel_name = await self.channel_layer.new_channel()
        self._events = asyncio.get_running_loop().create_task(
            self._pump(functools.partial(self.channel_layer.receive, self.channel_name), self._turn)
        )
        self._events.add_done_callback(self._events_stopped)
        self._receive_directly(self._offer)
        await self._join_all(groups)

    def _receive_directly(self, receiver) -> None:
        """Have the layer hand this socket's events to `receiver` while it is idle (when both layer and server can)."""
        if self._send_texts_now is not None and hasattr(self.channel_layer, "receive_directly"):
            self.channel_layer.receive_directly(self.channel_name, receiver)

    def _offer(self, events: Sequence[dict]) -> int:
        """Relay published frames at once, in the deliverer's task, if no dispatch is under way; return how many were taken.

        This is `_relay_frame` without the task switch: the layer offers events only while nothing
        is queued for this socket, and they are taken only while no message is being (or waiting to
        be) dispatched, so frames still leave in the order they reached the socket. The frames
        before the first other event (a revocation, a goaway) are taken, and leave in one write;
        that event and the ones behind it are queued for the event pump.
        """
        if self._dispatching or self._turn.locked():
            return 0
        texts: list[str] = []
        frame_types: list[str] = []
        taken = 0
        for event in events:
            if event.get("type") != EVENT_FRAME:
                break
            taken += 1
            text = self._text_for_this_socket(event)
            if text is not None:
                texts.append(text)
                frame_types.append(event.get("frame_type", m.INVALID_TYPE))
        if texts:
            _count_out(frame_types)
            self._send_texts_now(texts)
        return taken

    async def _pump(self, source, turn: asyncio.Lock) -> None:
        """Dispatch one source's messages in order, one dispatch at a time across sources.

        Channels' await_many_dispatch does the same with an asyncio.wait and a new task for every
        message; here the client's frames are read by the socket's own task, the channel layer's
        events by one long-lived task, and a lock keeps the dispatches from overlapping.
        """
        while True:
            message = await source()
            self._dispatching += 1
            try:
                async with turn:
                    await self.dispatch(message)
            finally:
                self._dispatching -= 1

    def _events_stopped(self, task: asyncio.Task) -> None:
        """Close with 4503 when the channel layer's events can no longer be received."""
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        logger.warning("channel layer events stopped: %s: %s", type(exc).__name__, exc)
        if not self._closed:
            self._closing = asyncio.get_running_loop().create_task(self._close(CloseCode.UNAVAILABLE))

    async def dispatch(self, message):
        """Route ASGI and channel-layer messages through a fixed table (never by a name taken from them).

        Unlike Channels' dispatch this does not close old database connections on every message:
        handlers reach the ORM only through db.call, which manages connections in the database thread.
        """
        route = self._routes.get(message.get("type"))
        if route is None:
            logger.warning("ignored a channel-layer message of unknown type")
            return
        await route(self, message)

    # Socket life --------------------------------------------------------------------------------

    async def websocket_connect(self, message) -> None:
        """Accept, then give the client DEDWEN_WS_AUTH_TIMEOUT seconds to authenticate (while draining: goaway)."""
        await self.accept()
        m.WS_CONNECTS.inc()
        self._accepted_at = asyncio.get_running_loop().time()
        self._count_as(m.PENDING)
        drain.track(self)
        if drain.draining():
            await self._goaway(GoawayReason.DRAINING, drain.reconnect_after_ms())
            return
        logger.info("[WebSocket] Connection established, awaiting JWT authentication...")
        self._deadline = asyncio.get_running_loop().time() + settings.DEDWEN_WS_AUTH_TIMEOUT
        self._arm()

    async def websocket_receive(self, message) -> None:
        """Check size and budget, parse strictly, then authenticate or dispatch."""
        if self._closed:
            return
        text, binary = message.get("text"), message.get("bytes")
        if self._too_large(text, binary):
            await self._close(CloseCode.TOO_LARGE)
            return
        if not self._bucket.take():
            await self._close(CloseCode.RATE_LIMITED)
            return
        try:
            if text is None:
                raise BadFrame("binary frames are not accepted")
            frame = parse_frame(text)
        except BadFrame as exc:
            _frames("in", m.INVALID_TYPE).inc()
            if self.ctx is None:
                await self._close(CloseCode.BAD_FRAME)
            else:
                await self._send_error(ErrorCode.BAD_FRAME, exc.message, exc.ref)
            return
        _frames("in", frame.type if registry.is_client_frame(frame.type) else m.INVALID_TYPE).inc()
        if self.ctx is None:
            await self._authenticate(frame)
        else:
            await self._handle(frame)

    async def websocket_disconnect(self, message) -> None:
        """Tell the socket apps, leave the groups, log, and stop."""
        self._closed = True
        self._stop_timer()
        code = self._close_code if self._close_code is not None else message.get("code")
        _closes(str(code)).inc()
        if self.connection_id is not None:
            await REGISTRY.remove(self.connection_id)
        if self._opened_ctx is not None:
            for app in registry.apps():
                if app.on_close is None:
                    continue
                try:
                    await app.on_close(self._opened_ctx)
                except Exception:  # noqa: BLE001 - no app may keep the socket from being cleaned up
                    logger.exception("%s could not record a closed socket", app.name)
        await self._leave_groups()
        if self.ctx is not None:
            logger.info("[WebSocket] Connection closed for user %s: code=%s", self.ctx.user_id, code)
        else:
            logger.info("[WebSocket] Connection closed before authentication: code=%s", code)
        raise StopConsumer()

    # Authentication -----------------------------------------------------------------------------

    async def _authenticate(self, frame: Frame) -> None:
        """Handle the first frame: it must be `authenticate` with a token that accounts accepts."""
        if frame.type != ClientFrame.AUTHENTICATE or frame.data is None:
            await self._close(CloseCode.BAD_FRAME)
            return
        try:
            identity, prepared = await db.call(_accept_first_token, frame.data.get("token"))
        except TokenRefused as exc:
            await self._refuse(exc)
            return
        except db.Unavailable:
            await self._close(CloseCode.UNAVAILABLE)
            return
        if self._closed:  # the auth timer fired while the token was being checked
            return
        if not SLOTS.take(user_id=identity.user_id, limit=settings.DEDWEN_WS_MAX_SOCKETS_PER_USER):
            logger.info("[WebSocket] User %s already holds the most sockets allowed on this process", identity.user_id)
            await self._close(CloseCode.TOO_MANY_SOCKETS)
            return
        self._slot_user = identity.user_id
        try:
            await self._subscribe([user_group(identity.user_id), device_group(identity.device_id)])
            ctx = self._context(identity)
        except BACKEND_ERRORS as exc:
            logger.warning("channel layer unavailable at authentication: %s", type(exc).__name__)
            await self._close(CloseCode.UNAVAILABLE)
            return
        if self._closed:
            return
        self.ctx = self._opened_ctx = ctx
        self.connection_id = new_connection_id()
        self._recheck_at = asyncio.get_running_loop().time() + settings.DEDWEN_WS_DEVICE_RECHECK
        self._expire_at(identity.expires_at)
        await self._send_authenticated(identity, frame.ref)
        m.WS_AUTH_SECONDS.observe(asyncio.get_running_loop().time() - self._accepted_at)
        self._count_as(m.AUTHENTICATED)
        await REGISTRY.add(self._connection_entry(ctx))
        for app in registry.apps():
            if app.on_open is None:
                continue
            try:
                await app.on_open(ctx, prepared.get(app.name))
            except BACKEND_ERRORS as exc:
                logger.warning("%s unavailable at authentication: %s", app.name, type(exc).__name__)
                await self._close(CloseCode.UNAVAILABLE)
                return
        logger.info("[WebSocket] User %s authenticated and connected", ctx.user_id)

    async def _reauthenticate(self, frame: Frame) -> None:
        """Accept a fresh token of the same user: move the expiry deadline and answer `authenticated`."""
        assert self.ctx is not None
        if frame.data is None:
            await self._send_error(ErrorCode.BAD_FRAME, "`authenticate` needs data with a token", frame.ref)
            return
        try:
            identity = await db.call(authenticator().authenticate, frame.data.get("token"))
        except TokenRefused as exc:
            await self._refuse(exc, live=True)
            return
        except db.Unavailable:
            await self._send_error(ErrorCode.UNAVAILABLE, "the token could not be checked; try again", frame.ref)
            return
        if self._closed:
            return
        if identity.user_id != self.ctx.user_id:
            logger.info("[WebSocket] re-authentication as another user refused on a socket of user %s", self.ctx.user_id)
            await self._close(CloseCode.FORBIDDEN)
            return
        if identity.device_id != self.ctx.device_id:
            try:
                await self._join(device_group(identity.device_id))
                await self._leave(device_group(self.ctx.device_id))
            except BACKEND_ERRORS:
                await self._close(CloseCode.UNAVAILABLE)
                return
            self.ctx = self._context(identity)
        self._expire_at(identity.expires_at)
        await self._send_authenticated(identity, frame.ref)

    async def _refuse(self, exc: TokenRefused, *, live: bool = False) -> None:
        """Close for a refused token: 4403 when the device or user is done, 4401 otherwise."""
        forbidden = exc.refusal is Refusal.REVOKED or (live and exc.refusal is Refusal.INACTIVE)
        logger.info("[WebSocket] token refused: %s", exc.reason)
        await self._close(CloseCode.FORBIDDEN if forbidden else CloseCode.UNAUTHORIZED)

    def _context(self, identity: Identity) -> SocketContext:
        return SocketContext(
            user_id=identity.user_id,
            username=identity.username,
            device_id=identity.device_id,
            channel_name=self.channel_name,
            send_frame=self.send_frame,
        )

    async def _send_authenticated(self, identity: Identity, ref: str | None) -> None:
        await self.send_frame(
            ServerFrame.AUTHENTICATED,
            {
                "user": {"id": identity.user_id, "username": identity.username},
                "device_id": identity.device_id,
                "connection_id": self.connection_id,
                "expires_at": identity.expires_at,
            },
            ref,
        )

    def _expire_at(self, expires_at: datetime) -> None:
        """Close with 4401 when the token expires, unless a re-authentication moves this again."""
        remaining = (expires_at - timezone.now()).total_seconds()
        self._deadline = asyncio.get_running_loop().time() + remaining
        self._deadline_code = CloseCode.UNAUTHORIZED
        self._arm()

    # Frames after authentication ----------------------------------------------------------------

    async def _handle(self, frame: Frame) -> None:
        """Answer the kernel's own frames, or run the handler a socket app registered; every refusal is an `error` frame."""
        if frame.type == ClientFrame.AUTHENTICATE:
            await self._reauthenticate(frame)
            return
        if frame.type == ClientFrame.PING:
            await self.send_frame(ServerFrame.PONG, {}, frame.ref)
            return
        handler = registry.handler_for(frame.type)
        if handler is None:
            await self._send_error(ErrorCode.UNKNOWN_TYPE, "unknown frame type", frame.ref)
            return
        data = MappingProxyType(frame.data if frame.data is not None else {})
        try:
            await handler(self.ctx, data, frame.ref)
        except (JsonableError, ValidationError) as exc:
            await self.send_frame(ServerFrame.ERROR, as_error_data(exc), frame.ref)
        except db.Unavailable:
            await self._send_error(ErrorCode.UNAVAILABLE, "the database is unavailable; nothing was stored", frame.ref)
        except Exception:  # noqa: BLE001 - a handler bug answers this frame; the socket stays open
            logger.exception("frame handler for %s failed", frame.type)
            await self._send_error(ErrorCode.INTERNAL, "the server could not handle this frame", frame.ref)

    async def send_frame(self, frame_type: str, data: dict[str, Any], ref: str | None = None) -> None:
        """Send one frame to this socket (nothing once it is closing)."""
        if not self._closed:
            _frames("out", frame_type).inc()
            await self.base_send({"type": "websocket.send", "text": encode_frame(frame_type, data, ref)})

    async def _send_error(self, code: str, message: str, ref: str | None) -> None:
        await self.send_frame(ServerFrame.ERROR, {"code": str(code), "message": message}, ref)

    # Channel-layer events -----------------------------------------------------------------------

    async def _relay_frame(self, event: dict) -> None:
        """Relay a frame published to one of this socket's groups, as serialized by the publisher (unless it excludes this socket)."""
        text = self._frame_text(event)
        if text is not None:
            await self.base_send({"type": "websocket.send", "text": text})  # the ASGI message, as Channels' send builds it

    def _frame_text(self, event: dict) -> str | None:
        """Return the text of a published frame to relay to this socket, counted as sent; None when it is not for it."""
        text = self._text_for_this_socket(event)
        if text is not None:
            _frames("out", str(event.get("frame_type", m.INVALID_TYPE))).inc()
        return text

    def _text_for_this_socket(self, event: dict) -> str | None:
        """Return the text of a published frame to relay to this socket; None when it is not for it."""
        text = event.get("text")
        if self.ctx is None or not isinstance(text, str) or self._closed or event.get("exclude_channel") == self.channel_name:
            return None
        return text

    async def _device_revoked(self, event: dict) -> None:
        """Close at once: the device was revoked (admin, logout, password change, deactivation)."""
        if self.ctx is not None and not self._closed:
            await self._close(CloseCode.FORBIDDEN)
            at = event.get("at")
            if isinstance(at, (int, float)):
                m.REVOCATION_CLOSE_SECONDS.observe(max(0.0, time.time() - at))

    async def _goaway_event(self, event: dict) -> None:
        """An operator disconnected this socket (the admin's live connections)."""
        delay = event.get("reconnect_after_ms")
        await self._goaway(GoawayReason.DISCONNECTED, delay if isinstance(delay, int) else drain.DISCONNECT_RECONNECT_MS)

    async def goaway(self, *, reason: str, reconnect_after_ms: int) -> None:
        """Send `goaway` and close with 4001, between dispatches (the drain calls this)."""
        async with self._turn:
            await self._goaway(GoawayReason(reason), reconnect_after_ms)

    async def _goaway(self, reason: GoawayReason, reconnect_after_ms: int) -> None:
        if self._closed:
            return
        await self.send_frame(ServerFrame.GOAWAY, {"reason": str(reason), "reconnect_after_ms": reconnect_after_ms})
        await self._close(CloseCode.GOING_AWAY)

    # Timers -------------------------------------------------------------------------------------

    def _arm(self) -> None:
        """Set the socket's timer for the earlier of its deadline (auth timeout, token expiry) and the device re-check."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._closed and self._tick is None:
            self._timer = asyncio.get_running_loop().call_at(min(self._deadline, self._recheck_at), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if not self._closed:
            self._tick = asyncio.get_running_loop().create_task(self._run_timer())

    async def _run_timer(self) -> None:
        """Enforce the auth timeout, then the token's expiry, and re-check the device periodically."""
        try:
            now = asyncio.get_running_loop().time()
            if now >= self._deadline:
                await self._close(self._deadline_code)
            elif now >= self._recheck_at:
                await self._recheck_device()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a timer failure must not leave an unwatched socket open
            logger.exception("socket watchdog failed")
            await self._close(CloseCode.UNAVAILABLE)
        finally:
            self._tick = None
        self._arm()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._tick is not None and self._tick is not asyncio.current_task():
            self._tick.cancel()

    async def _recheck_device(self) -> None:
        """Close with 4403 when the device was revoked or its user deactivated (a lost event's backstop)."""
        assert self.ctx is not None
        self._recheck_at = asyncio.get_running_loop().time() + settings.DEDWEN_WS_DEVICE_RECHECK
        try:
            live = await db.call(authenticator().is_live, device_id=self.ctx.device_id, user_id=self.ctx.user_id)
        except db.Unavailable:
            logger.warning("device re-check skipped: the database is unavailable")
            return
        if not live:
            await self._close(CloseCode.FORBIDDEN)

    # Helpers ------------------------------------------------------------------------------------

    def _count_as(self, state: str | None) -> None:
        """Move this socket between the dedwen_ws_connections series (None: no longer open)."""
        if self._gauge_state is not None:
            m.WS_CONNECTIONS_BY_STATE[self._gauge_state].dec()
        if state is not None:
            m.WS_CONNECTIONS_BY_STATE[state].inc()
        self._gauge_state = state

    def _connection_entry(self, ctx: SocketContext) -> Connection:
        return Connection(
            connection_id=self.connection_id,
            user_id=ctx.user_id,
            username=ctx.username,
            device_id=ctx.device_id,
            process=PROCESS_ID,
            connected_at=timezone.now().isoformat(),
            client_ip=scope_client_ip(self.scope) or "",
            user_agent=scope_header(self.scope, b"user-agent")[:300],
            channel_name=ctx.channel_name,
        )

    def _release_slot(self) -> None:
        if self._slot_user is not None:
            SLOTS.release(user_id=self._slot_user)
            self._slot_user = None

    def _too_large(self, text: str | None, binary: bytes | None) -> bool:
        limit = settings.DEDWEN_WS_MAX_FRAME
        if text is not None:
            return len(text) > limit or len(text.encode("utf-8")) > limit
        return len(binary or b"") > limit

    async def _join(self, group: str) -> None:
        await self._join_all([group])

    async def _join_all(self, groups: list[str]) -> None:
        """Join groups in one layer call; they count as joined even if it fails (leaving one not joined is harmless)."""
        self._joined.extend(groups)
        await self.channel_layer.group_add_many(groups, self.channel_name)

    async def _leave(self, group: str) -> None:
        self._joined.remove(group)
        await self.channel_layer.group_discard(group, self.channel_name)

    async def _leave_groups(self) -> None:
        groups, self._joined = self._joined, []
        if groups:
            try:
                await self.channel_layer.group_discard_many(groups, self.channel_name)
            except BACKEND_ERRORS as exc:
                logger.warning("could not leave the groups: %s", type(exc).__name__)

    async def _close(self, code: CloseCode) -> None:
        """Close the socket once, with a contract code."""
        if self._closed:
            return
        self._closed = True
        self._close_code = int(code)
        self._stop_timer()
        await self.close(code=int(code))

    _routes = {
        "websocket.connect": websocket_connect,
        "websocket.receive": websocket_receive,
        "websocket.disconnect": websocket_disconnect,
        EVENT_FRAME: _relay_frame,
        EVENT_DEVICE_REVOKED: _device_revoked,
        EVENT_GOAWAY: _goaway_event,
    }
