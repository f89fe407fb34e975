"""Writes for messaging: open conversations, send and read messages, typing, notifications.

Every change is stored first; its live frames are published after the transaction commits, to the
`user.<id>` groups of the users named here (every socket of every device of theirs).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import Count, F, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from messaging import selectors
from messaging.models import Conversation, Membership, Message, Notification, UnreadNotifications
from messaging.protocol import MessagingServerFrame
from messaging.serializers import message_data, notification_frame_data
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

    `data` is the message as MessageSerializer shapes it (serializers.message_data), made once for `message.new` and the ack.
    """

    message: Message
    created: bool
    data: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


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


MAX_SENDS = 64  # messages one send_messages call stores at most: one transaction, statements of bounded size


@dataclass(frozen=True)
class Outgoing:
    """A message to send: who sends it, where, its body and client_id.

    `exclude_channel`: the sending socket's channel, which needs no `message.new` (its ack carries the message).
    """

    sender: AbstractBaseUser
    conversation_id: int
    body: str
    client_id: str
    exclude_channel: str | None = None


def send_message(*, sender: AbstractBaseUser, conversation: Conversation, body: str, client_id: str) -> Sent:
    """Store one message (see send_messages); raise its refusal."""
    (result,) = send_messages(outgoing=[Outgoing(sender=sender, conversation_id=conversation.pk, body=body, client_id=client_id)])
    if isinstance(result, JsonableError):
        raise result
    return result


def send_messages(*, outgoing: Sequence[Outgoing]) -> list[Sent | JsonableError]:
    """Store several messages in one transaction; return, for each, what it stored or the refusal that stopped it alone.

    A sender must take part in the conversation (ConversationNotFound otherwise). Each stored message
    becomes its conversation's latest and is read by its sender; after the commit every participant
    gets `message.new` (but the `exclude_channel` socket) and the others a `notification`.
    Idempotent on (sender, client_id): a retry, also one racing the first send or in the same call,
    returns the first message and publishes nothing; naming another conversation is ClientIdReused.
    A few statements whatever the count, at most MAX_SENDS (written out: the ORM's compiling cost more than running them).
    """
    if len(outgoing) > MAX_SENDS:
        raise ValueError(f"send at most {MAX_SENDS} messages per call")
    results: list[Sent | JsonableError | None] = [None] * len(outgoing)
    with transaction.atomic():
        members = selectors.participants_of(conversation_ids={send.conversation_id for send in outgoing})
        by_key: dict[tuple[int, str], list[int]] = {}  # (sender, client_id) -> the sends naming it, in order
        for index, send in enumerate(outgoing):
            if send.sender.pk in members[send.conversation_id]:
                by_key.setdefault((send.sender.pk, send.client_id), []).append(index)
            else:
                results[index] = selectors.ConversationNotFound()
        if not by_key:
            return results
        now = timezone.now()
        firsts = {key: outgoing[indexes[0]] for key, indexes in by_key.items()}
        stored = _insert_messages(list(firsts.values()), created_at=now)  # (sender, client_id) -> id of each row stored now
        earlier = _sent_before(keys=[key for key in by_key if key not in stored])
        created: list[Sent] = []
        for key, indexes in by_key.items():
            first = firsts[key]
            new = key in stored
            if new:
                message = Message(
                    id=stored[key], conversation_id=first.conversation_id, sender=first.sender, body=first.body,
                    client_id=first.client_id, created_at=now,
                )
            else:
                message = earlier[key]
            sent = Sent(message, created=new, data=message_data(message))
            if new:
                created.append(sent)
            for index in indexes:
                if message.conversation_id != outgoing[index].conversation_id:
                    results[index] = ClientIdReused()
                else:
                    results[index] = sent if index == indexes[0] else Sent(message, created=False, data=sent.data)
        if created:
            created.sort(key=lambda sent: sent.message.pk)  # published in id order
            _record_activity([sent.message for sent in created], created_at=now)
            for sent in created:
                publish(
                    user_ids=members[sent.message.conversation_id],
                    frame_type=MessagingServerFrame.MESSAGE_NEW,
                    data={"conversation_id": sent.message.conversation_id, "message": sent.data},
                    exclude_channel=firsts[(sent.message.sender_id, sent.message.client_id)].exclude_channel,
                )
            _notify(
                [
                    (user_id, "message", _preview(f"{message.sender.get_username()}: {message.body}"), {"conversation_id": message.conversation_id, "message_id": message.pk})
                    for message in (sent.message for sent in created)
                    for user_id in members[message.conversation_id]
                    if user_id != message.sender_id
                ],
                created_at=now,
            )
            count = len(created)
            transaction.on_commit(lambda: metrics.MESSAGES_SENT.inc(count))
    return results


def _insert_messages(sends: list[Outgoing], *, created_at) -> dict[tuple[int, str], int]:
    """Insert the messages in one statement, skipping a (sender, client_id) already stored; return the new rows' ids."""
    stored: dict[tuple[int, str], int] = {}
    with connection.cursor() as cursor:
        at = Message._meta.get_field("created_at").get_db_prep_save(created_at, connection)
        params = [value for send in sends for value in (send.conversation_id, send.sender.pk, send.body, send.client_id, at)]
        cursor.execute(_insert_messages_sql(connection.alias, len(sends)), params)
        for message_id, sender_id, client_id in cursor.fetchall():
            stored[(sender_id, client_id)] = message_id
    return stored


def _sent_before(*, keys: list[tuple[int, str]]) -> dict[tuple[int, str], Message]:
    """Return the stored messages of these (sender, client_id) pairs (the retries: rare, so through the ORM)."""
    if not keys:
        return {}
    match = Q()
    for sender_id, client_id in keys:
        match |= Q(sender_id=sender_id, client_id=client_id)
    return {(message.sender_id, message.client_id): message for message in Message.objects.select_related("sender").filter(match)}


def _record_activity(created: list[Message], *, created_at) -> None:
    """Make each conversation's newest message its latest, and mark the messages read for their senders.

    Rows are updated in key order, so that concurrent batches never wait on each other in a cycle.
    """
    latest: dict[int, int] = {}
    read: dict[tuple[int, int], int] = {}
    for message in created:
        latest[message.conversation_id] = max(latest.get(message.conversation_id, 0), message.pk)
        key = (message.conversation_id, message.sender_id)
        read[key] = max(read.get(key, 0), message.pk)
    at = Conversation._meta.get_field("last_activity_at").get_db_prep_save(created_at, connection)
    conversation_sql, membership_sql = _activity_sql(connection.alias)
    with connection.cursor() as cursor:
        cursor.executemany(conversation_sql, [(pk, at, conversation_id, pk) for conversation_id, pk in sorted(latest.items())])
        cursor.executemany(membership_sql, [(pk, conversation_id, user_id, pk) for (conversation_id, user_id), pk in sorted(read.items())])


@functools.cache
def _insert_messages_sql(alias: str, rows: int) -> str:
    quote = connections[alias].ops.quote_name
    column = {name: quote(Message._meta.get_field(name).column) for name in ("conversation", "sender", "body", "client_id", "created_at")}
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * rows)
    return (
        f"INSERT INTO {quote(Message._meta.db_table)} ({', '.join(column.values())}) VALUES {values}"
        f" ON CONFLICT ({column['sender']}, {column['client_id']}) DO NOTHING"
        f" RETURNING {quote(Message._meta.pk.column)}, {column['sender']}, {column['client_id']}"
    )


@functools.cache
def _activity_sql(alias: str) -> tuple[str, str]:
    quote = connections[alias].ops.quote_name
    last_message = quote(Conversation._meta.get_field("last_message").column)
    last_activity = quote(Conversation._meta.get_field("last_activity_at").column)
    last_read = quote(Membership._meta.get_field("last_read_id").column)
    conversation, user = (quote(Membership._meta.get_field(name).column) for name in ("conversation", "user"))
    latest = (
        f"UPDATE {quote(Conversation._meta.db_table)} SET {last_message} = %s, {last_activity} = %s"
        f" WHERE {quote(Conversation._meta.pk.column)} = %s AND ({last_message} IS NULL OR {last_message} < %s)"
    )
    read = f"UPDATE {quote(Membership._meta.db_table)} SET {last_read} = %s WHERE {conversation} = %s AND {user} = %s AND {last_read} < %s"
    return latest, read


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
    return _notify([(user_id, kind, text, data or {}) for user_id in user_ids], created_at=timezone.now())


NOTIFICATIONS_PER_INSERT = 500  # rows of one INSERT: 3,000 parameters, well under SQLite's limit


def _notify(rows: list[tuple[int, str, str, dict[str, Any]]], *, created_at) -> list[Notification]:
    """Store notifications (user, kind, text, data) in bulk and push each, once committed, with its user's unread count then."""
    if not rows:
        return []
    notifications: list[Notification] = []
    data_field = Notification._meta.get_field("data")
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:  # inside send_messages' transaction: no savepoint
        at = Notification._meta.get_field("created_at").get_db_prep_save(created_at, connection)
        for start in range(0, len(rows), NOTIFICATIONS_PER_INSERT):
            chunk = [(user_id, kind, text[:500], data) for user_id, kind, text, data in rows[start : start + NOTIFICATIONS_PER_INSERT]]
            params = [
                value
                for user_id, kind, text, data in chunk
                for value in (user_id, kind, text, data_field.get_db_prep_save(data, connection), at)
            ]
            cursor.execute(_insert_notifications_sql(connection.alias, len(chunk)), params)
            # The ids come back in the order of the rows (as bulk_create relies on, on both databases).
            for (notification_id,), (user_id, kind, text, data) in zip(cursor.fetchall(), chunk, strict=True):
                notifications.append(
                    Notification(id=notification_id, user_id=user_id, kind=kind, text=text, data=data, created_at=created_at)
                )
        counts = _add_unread(Counter(notification.user_id for notification in notifications))
        # A user notified twice here saw the first with one fewer unread: count down from the last.
        frames = []
        for notification in reversed(notifications):
            frames.append((notification, counts[notification.user_id]))
            counts[notification.user_id] -= 1
        for notification, unread_count in reversed(frames):
            publish(
                user_ids=[notification.user_id],
                frame_type=MessagingServerFrame.NOTIFICATION,
                data=notification_frame_data(notification, unread_count=unread_count),
            )
    return notifications


@functools.cache
def _insert_notifications_sql(alias: str, rows: int) -> str:
    quote = connections[alias].ops.quote_name
    columns = ", ".join(quote(Notification._meta.get_field(name).column) for name in ("user", "kind", "text", "data", "created_at"))
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * rows)
    return (
        f"INSERT INTO {quote(Notification._meta.db_table)} ({columns}) VALUES {values}"
        f" RETURNING {quote(Notification._meta.pk.column)}"
    )


UNREAD_PER_UPSERT = 1000  # users whose counts one statement moves (2,000 parameters)


def _add_unread(added: Counter[int]) -> dict[int, int]:
    """Add new notifications to their users' unread counts; return each user's count after (one statement per 1,000 users).

    In user order, so that concurrent transactions lock the counts in the same order, never in a cycle.
    """
    counts: dict[int, int] = {}
    users = sorted(added)
    with connection.cursor() as cursor:
        for start in range(0, len(users), UNREAD_PER_UPSERT):
            chunk = users[start : start + UNREAD_PER_UPSERT]
            cursor.execute(_add_unread_sql(connection.alias, len(chunk)), [value for user_id in chunk for value in (user_id, added[user_id])])
            counts.update(cursor.fetchall())
    return counts


@functools.cache
def _add_unread_sql(alias: str, rows: int) -> str:
    quote = connections[alias].ops.quote_name
    table = quote(UnreadNotifications._meta.db_table)
    user, count = quote(UnreadNotifications._meta.get_field("user").column), quote("count")
    return (
        f"INSERT INTO {table} ({user}, {count}) VALUES {', '.join(['(%s, %s)'] * rows)}"
        f" ON CONFLICT ({user}) DO UPDATE SET {count} = {table}.{count} + excluded.{count}"
        f" RETURNING {user}, {count}"
    )


def mark_notifications_read(*, user: AbstractBaseUser, ids: Iterable[int] | None = None) -> int:
    """Mark the user's notifications read (the named ones, or all); return how many changed."""
    notifications = Notification.objects.filter(user_id=user.pk).unread()
    if ids is not None:
        notifications = notifications.filter(pk__in=list(ids))
    with transaction.atomic():
        changed = notifications.update(read_at=timezone.now())
        if changed:  # exactly the rows this statement marked: a concurrent mark cannot count them twice
            UnreadNotifications.objects.filter(user_id=user.pk).update(count=Greatest(F("count") - changed, 0))
    return changed


def recount_unread_notifications(*, user_ids: Iterable[int]) -> None:
    """Set the users' unread counts from their notifications (after a change made outside these services: the admin)."""
    user_ids = set(user_ids)
    counted = dict(
        Notification.objects.filter(user_id__in=user_ids).unread().order_by().values("user_id").annotate(n=Count("id")).values_list("user_id", "n")
    )
    with transaction.atomic():
        for user_id in sorted(user_ids):
            UnreadNotifications.objects.update_or_create(user_id=user_id, defaults={"count": counted.get(user_id, 0)})
