"""Frame handlers for messaging: message.send, message.read, typing and sync (merged into the consumer's dispatch)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import serializers

from dedwen.realtime import db
from dedwen.realtime.context import FrameHandler, SocketContext
from dedwen.realtime.protocol import ClientFrame, ErrorCode, FrameError, ServerFrame
from messaging import selectors, services
from messaging.serializers import (
    MessageReadFrameSerializer,
    MessageSendFrameSerializer,
    MessageSerializer,
    SyncFrameSerializer,
    TypingFrameSerializer,
)

SYNC_BATCH = 200  # messages read from the database per query while replaying


def _user(ctx: SocketContext):
    """Return a reference to the socket's user (its id and name; no query)."""
    return get_user_model()(pk=ctx.user_id, username=ctx.username)


def _valid(serializer_class: type[serializers.Serializer], data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate frame data with the same serializer REST uses; refuse it with an `invalid` error."""
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        field, problems = next(iter(serializer.errors.items()))
        problem = problems[0] if isinstance(problems, list) and problems else problems
        raise FrameError(ErrorCode.INVALID, f"{field}: {problem}")
    return serializer.validated_data


async def _conversation(ctx: SocketContext, conversation_id: int):
    try:
        return await db.call(selectors.access_conversation, user=_user(ctx), conversation_id=conversation_id)
    except selectors.ConversationNotFound:
        raise FrameError(ErrorCode.NOT_FOUND, "No such conversation.") from None


async def message_send(ctx: SocketContext, data: Mapping[str, Any], ref: str | None) -> None:
    """Store a message and acknowledge it; every participant's sockets get `message.new`."""
    form = _valid(MessageSendFrameSerializer, data)
    conversation = await _conversation(ctx, form["conversation_id"])
    try:
        sent = await db.call(
            services.send_message,
            sender=_user(ctx),
            conversation=conversation,
            body=form["body"],
            client_id=form["client_id"],
        )
    except services.ClientIdReused as exc:
        raise FrameError(ErrorCode.INVALID, str(exc)) from None
    await ctx.send_frame(ServerFrame.ACK, {"message": MessageSerializer(sent.message).data}, ref)


async def message_read(ctx: SocketContext, data: Mapping[str, Any], ref: str | None) -> None:
    """Move the read marker; the other participants get `message.read`."""
    form = _valid(MessageReadFrameSerializer, data)
    conversation = await _conversation(ctx, form["conversation_id"])
    try:
        message = await db.call(selectors.conversation_message, conversation=conversation, message_id=form["message_id"])
    except selectors.MessageNotFound:
        raise FrameError(ErrorCode.NOT_FOUND, "No such message in this conversation.") from None
    await db.call(services.mark_read, user=_user(ctx), conversation=conversation, message=message)
    if ref is not None:
        await ctx.send_frame(ServerFrame.ACK, {"conversation_id": conversation.pk, "message_id": message.pk}, ref)


async def typing(ctx: SocketContext, data: Mapping[str, Any], ref: str | None) -> None:
    """Tell the other participants that the user is typing."""
    form = _valid(TypingFrameSerializer, data)
    conversation = await _conversation(ctx, form["conversation_id"])
    await db.call(services.typing, user=_user(ctx), conversation=conversation)
    if ref is not None:
        await ctx.send_frame(ServerFrame.ACK, {"conversation_id": conversation.pk}, ref)


async def sync(ctx: SocketContext, data: Mapping[str, Any], ref: str | None) -> None:
    """Replay every later message of the user's conversations as `message.new`, in id order, then `sync.done`."""
    last_id = _valid(SyncFrameSerializer, data)["after"]
    user = _user(ctx)
    while True:
        batch = await db.call(selectors.messages_after, user=user, after=last_id, limit=SYNC_BATCH)
        for message in batch:
            frame = {"conversation_id": message.conversation_id, "message": MessageSerializer(message).data}
            await ctx.send_frame(ServerFrame.MESSAGE_NEW, frame, None)
        if batch:
            last_id = batch[-1].pk
        if len(batch) < SYNC_BATCH:
            break
    await ctx.send_frame(ServerFrame.SYNC_DONE, {"last_id": last_id}, ref)


HANDLERS: dict[ClientFrame, FrameHandler] = {
    ClientFrame.MESSAGE_SEND: message_send,
    ClientFrame.MESSAGE_READ: message_read,
    ClientFrame.TYPING: typing,
    ClientFrame.SYNC: sync,
}
