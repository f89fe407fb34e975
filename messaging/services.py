"""Writes for messaging: open conversations, send and read messages, typing, notifications.

Every change is stored first; its live frames are published after the transaction commits, to the
`user.<id>` groups of the users named here (every socket of every device of theirs).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from messaging import selectors
from messaging.models import Conversation, Membership, Message, Notification
from messaging.protocol import MessagingServerFrame
from messaging.serializers import MessageSerializer, notification_frame_data
from messaging.signals import member_left
from realtime import metrics
from realtime.errors import Conflict, JsonableError
from realtime.publish import publish

NOTIFICATION_PREVIEW_LENGTH = 140


class InvalidParticipants(JsonableError):
    """The participants of a new conversation are missing or unknown."""


class ClientIdReused(Conflict):
    """The client_id already names a message of this sender in another conversation."""

    message = "This client_id already names a message in another conversation."


class CannotLeave(Conflict):
    """Direct conversations cannot be left."""


@dataclass(frozen=True)
class Opened:
    """A conversation, and whether this call created it."""

    conversation: Conversation
    created: bool


@dataclass(frozen=True)
class Sent:
    """A message, whether this call stored it (False: an earlier send with the same client_id), and its shape.

    `data` is the message as MessageSerializer shapes it, made once for `message.new` and the ack.
    """

    message: Message
    created: bool
    data: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


_message_shape = MessageSerializer()  # one instance for every message: building its fields costs more than using them


def _message_data(message: Message) -> dict[str, Any]:
    """Return the message as MessageSerializer shapes it."""
    return _message_shape.to_representation(message)


def create_conversation(*, creator: AbstractBaseUser, participant_ids: Iterable[int], title: str = "") -> Opened:
    """Open a conversation of the creator with others; a direct one between the same two users is reused.

    One other participant and no title makes a direct conversation; anything else is a group.
    """
    others = set(participant_ids) - {creator.pk}
    if not others:
        raise InvalidParticipants("Name at least one other participant.", field="participants")
    found = set(get_user_model().objects.filter(pk__in=others, is_active=True).values_list("pk", flat=True))
    if found != others:
        missing = ", ".join(str(pk) for pk in sorted(others - found))
        raise InvalidParticipants(f"Unknown users: {missing}.", field="participants")
    if len(others) == 1 and not title:
        return _open_direct(creator=creator, other_id=others.pop())
    with transaction.atomic():
        conversation = Conversation.objects.create(kind=Conversation.Kind.GROUP, title=title, created_by=creator)
        _add_members(conversation, [creator.pk, *sorted(others)])
        _announce(conversation=conversation, creator=creator, user_ids=sorted(others))
    return Opened(conversation, created=True)


def _open_direct(*, creator: AbstractBaseUser, other_id: int) -> Opened:
    key = Conversation.direct_key_for(creator.pk, other_id)
    existing = Conversation.objects.filter(direct_key=key).first()
    if existing is not None:
        return Opened(existing, created=False)
    try:
        with transaction.atomic():
            conversation = Conversation.objects.create(
                kind=Conversation.Kind.DIRECT, direct_key=key, created_by=creator
            )
            _add_members(conversation, [creator.pk, other_id])
            _announce(conversation=conversation, creator=creator, user_ids=[other_id])
    except IntegrityError:
        # Another request opened the same pair first: theirs is the one.
        return Opened(Conversation.objects.get(direct_key=key), created=False)
    return Opened(conversation, created=True)


def _add_members(conversation: Conversation, user_ids: list[int]) -> None:
    Membership.objects.bulk_create(Membership(conversation=conversation, user_id=user_id) for user_id in user_ids)


def _announce(*, conversation: Conversation, creator: AbstractBaseUser, user_ids: list[int]) -> None:
    where = f" “{conversation.title}”" if conversation.title else ""
    notify_users(
        user_ids=user_ids,
        kind="conversation",
        text=f"{creator.get_username()} started a conversation{where} with you.",
        data={"conversation_id": conversation.pk},
    )


def leave_conversation(*, user: AbstractBaseUser, conversation: Conversation) -> bool:
    """Take the user out of a group; return False when they were not in it.

    From the commit on they get nothing more from it: no live frame, no `sync`, no presence through it.
    This process's cached participants (the `typing` relay) forget the conversation at once.
    """
    if conversation.kind == Conversation.Kind.DIRECT:
        raise CannotLeave("A direct conversation cannot be left.")
    left = (
        Membership.objects.filter(conversation=conversation, user_id=user.pk, left_at__isnull=True)
        .update(left_at=timezone.now())
    )
    if left:
        from messaging.realtime import (
            participants,  # here: messaging.realtime imports this module
        )

        transaction.on_commit(lambda: participants.forget(conversation.pk))
        member_ids = list(selectors.participant_ids(conversation=conversation))
        transaction.on_commit(
            lambda: member_left.send(sender=Conversation, conversation_id=conversation.pk, user_id=user.pk, member_ids=member_ids)
        )
    return left == 1


def send_message(*, sender: AbstractBaseUser, conversation: Conversation, body: str, client_id: str) -> Sent:
    """Store a message, then publish `message.new` to every participant and notify the others.

    Idempotent on (sender, client_id): a retry returns the first message and publishes nothing,
    also when two sends with the same client_id race.
    """
    earlier = _sent_before(sender=sender, client_id=client_id, conversation=conversation)
    if earlier is not None:
        return Sent(earlier, created=False, data=_message_data(earlier))
    try:
        with transaction.atomic():
            message = Message.objects.create(conversation=conversation, sender=sender, body=body, client_id=client_id)
            transaction.on_commit(metrics.MESSAGES_SENT.inc)
            _record_activity(conversation=conversation, message=message)
            recipients = selectors.participant_ids(conversation=conversation)
            data = _message_data(message)
            publish(
                user_ids=recipients,
                frame_type=MessagingServerFrame.MESSAGE_NEW,
                data={"conversation_id": conversation.pk, "message": data},
            )
            notify_users(
                user_ids=[user_id for user_id in recipients if user_id != sender.pk],
                kind="message",
                text=_preview(f"{sender.get_username()}: {body}"),
                data={"conversation_id": conversation.pk, "message_id": message.pk},
            )
    except IntegrityError:
        earlier = _sent_before(sender=sender, client_id=client_id, conversation=conversation)
        if earlier is None:
            raise
        return Sent(earlier, created=False, data=_message_data(earlier))
    return Sent(message, created=True, data=data)


def _sent_before(*, sender: AbstractBaseUser, client_id: str, conversation: Conversation) -> Message | None:
    earlier = Message.objects.select_related("sender").filter(sender_id=sender.pk, client_id=client_id).first()
    if earlier is not None and earlier.conversation_id != conversation.pk:
        raise ClientIdReused()
    return earlier


def _record_activity(*, conversation: Conversation, message: Message) -> None:
    """Make the message the conversation's latest, and mark it read for its sender."""
    Conversation.objects.filter(Q(last_message__isnull=True) | Q(last_message_id__lt=message.pk), pk=conversation.pk).update(
        last_message=message, last_activity_at=message.created_at
    )
    Membership.objects.filter(conversation=conversation, user_id=message.sender_id, last_read_id__lt=message.pk).update(
        last_read_id=message.pk
    )


def _preview(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= NOTIFICATION_PREVIEW_LENGTH:
        return text
    return text[: NOTIFICATION_PREVIEW_LENGTH - 1] + "…"


def mark_read(*, user: AbstractBaseUser, conversation: Conversation, message: Message) -> bool:
    """Move the user's read marker forward to the message; tell the other participants when it moved."""
    moved = Membership.objects.filter(
        conversation=conversation, user_id=user.pk, left_at__isnull=True, last_read_id__lt=message.pk
    ).update(last_read_id=message.pk)
    if moved:
        publish(
            user_ids=_others(conversation=conversation, user=user),
            frame_type=MessagingServerFrame.MESSAGE_READ,
            data={"conversation_id": conversation.pk, "user_id": user.pk, "message_id": message.pk},
        )
    return bool(moved)


def typing(*, user: AbstractBaseUser, conversation_id: int, participant_ids: Iterable[int]) -> None:
    """Tell the other participants (named by the caller, who checked access) that the user is typing.

    Nothing is stored and the database is not read, so this may run on the event loop.
    """
    publish(
        user_ids=[user_id for user_id in participant_ids if user_id != user.pk],
        frame_type=MessagingServerFrame.TYPING,
        data={"conversation_id": conversation_id, "user_id": user.pk},
        at_commit=False,
    )


def _others(*, conversation: Conversation, user: AbstractBaseUser) -> list[int]:
    return [user_id for user_id in selectors.participant_ids(conversation=conversation) if user_id != user.pk]


def notify_users(*, user_ids: list[int], kind: str, text: str, data: dict[str, Any] | None = None) -> list[Notification]:
    """Store the same notification for several users and push each theirs, with their unread count."""
    if not user_ids:
        return []
    with transaction.atomic(savepoint=False):  # inside send_message's transaction: no savepoint round trips
        notifications = Notification.objects.bulk_create(
            Notification(user_id=user_id, kind=kind, text=text[:500], data=data or {}) for user_id in user_ids
        )
        counts = selectors.unread_notification_counts(user_ids=list(user_ids))
        for notification in notifications:
            publish(
                user_ids=[notification.user_id],
                frame_type=MessagingServerFrame.NOTIFICATION,
                data=notification_frame_data(notification, unread_count=counts[notification.user_id]),
            )
    return notifications


def mark_notifications_read(*, user: AbstractBaseUser, ids: Iterable[int] | None = None) -> int:
    """Mark the user's notifications read (the named ones, or all); return how many changed."""
    notifications = Notification.objects.filter(user_id=user.pk).unread()
    if ids is not None:
        notifications = notifications.filter(pk__in=list(ids))
    return notifications.update(read_at=timezone.now())
