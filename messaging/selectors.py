"""Reads for messaging: who may see a conversation, conversation lists, message pages, notifications."""

from __future__ import annotations

import functools
from collections.abc import Collection

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import (
    Count,
    F,
    IntegerField,
    Max,
    OuterRef,
    Prefetch,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce

from messaging.models import Conversation, Membership, Message, Notification
from realtime.errors import NotFound
from realtime.fields import is_id
from realtime.rawsql import RawRead, padded


class ConversationNotFound(NotFound):
    """The conversation does not exist, or the user does not take part in it (the two look alike)."""

    message = "No such conversation."


class MessageNotFound(NotFound):
    """The message does not exist in that conversation."""

    message = "No such message in this conversation."


def active_memberships() -> QuerySet[Membership]:
    """Return the memberships of users who have not left."""
    return Membership.objects.filter(left_at__isnull=True)


def contact_pairs_sql(connection: BaseDatabaseWrapper) -> str:
    """Return a SELECT of `(user_id, contact_id)`: each pair of users who share a conversation neither has left.

    The one statement of who may see whom (presence's circle and watchers, `contact_ids`). A user is
    never their own contact; a pair met in two conversations comes twice. Other apps use it as a
    subquery filtered on `user_id`, which the database pushes down to the (user, left_at) index:
    `SELECT ... FROM (<this>) c WHERE c.user_id = %s`.
    """
    return _contact_pairs_sql(connection.alias)


def active_membership_sql(connection: BaseDatabaseWrapper) -> str:
    """Return a SELECT of `(conversation_id, user_id)`: each membership of a user who has not left (a subquery, like `contact_pairs_sql`)."""
    return _active_membership_sql(connection.alias)


@functools.cache
def _active_membership_sql(alias: str) -> str:
    membership, conversation, user, left_at = _membership_names(alias)
    return f"SELECT {conversation} AS conversation_id, {user} AS user_id FROM {membership} WHERE {left_at} IS NULL"


def _membership_names(alias: str) -> tuple[str, str, str, str]:
    """Return the membership table's quoted name and its conversation, user and left_at columns."""
    quote = connections[alias].ops.quote_name
    columns = (quote(Membership._meta.get_field(name).column) for name in ("conversation", "user", "left_at"))
    return (quote(Membership._meta.db_table), *columns)


@functools.cache
def _contact_pairs_sql(alias: str) -> str:  # built once per database: building it costs more than running it
    membership, conversation, user, left_at = _membership_names(alias)
    return (
        f"SELECT mine.{user} AS user_id, theirs.{user} AS contact_id"
        f" FROM {membership} mine JOIN {membership} theirs ON theirs.{conversation} = mine.{conversation}"
        f" WHERE mine.{left_at} IS NULL AND theirs.{left_at} IS NULL AND theirs.{user} <> mine.{user}"
    )


_contacts = RawRead(
    sql=lambda connection: f"SELECT DISTINCT contact_id FROM ({contact_pairs_sql(connection)}) c WHERE user_id = %s",
    fields=[None],
    model=Membership,
)


def contact_ids(*, user_id: int) -> set[int]:
    """Return the ids of the users who share a conversation with the user (not the user)."""
    return {contact_id for (contact_id,) in _contacts.rows([user_id])}


def access_conversation(*, user: AbstractBaseUser, conversation_id: int) -> Conversation:
    """Return the conversation when the user takes part in it; raise ConversationNotFound otherwise."""
    if not is_id(conversation_id):
        raise ConversationNotFound()
    conversation = Conversation.objects.filter(
        pk=conversation_id, memberships__user_id=user.pk, memberships__left_at__isnull=True
    ).first()
    if conversation is None:
        raise ConversationNotFound()
    return conversation


def participant_ids(*, conversation: Conversation) -> list[int]:
    """Return the ids of the conversation's current participants, in joining order."""
    return list(active_memberships().filter(conversation=conversation).order_by("id").values_list("user_id", flat=True))


def participants_of(*, conversation_ids: Collection[int]) -> dict[int, list[int]]:
    """Return the current participants of each conversation, in joining order, in one query (an unknown one has none).

    Every `message.send` reads this (its access check and its recipients), so the statement is
    written out; the list of ids is padded to a power of two, so that few distinct statements
    exist (PostgreSQL prepares each after a few runs).
    """
    found: dict[int, list[int]] = {conversation_id: [] for conversation_id in conversation_ids}
    if not found:
        return found
    ids = padded(list(found))
    with connection.cursor() as cursor:
        cursor.execute(_participants_sql(connection.alias, len(ids)), ids)
        for conversation_id, user_id in cursor.fetchall():
            found[conversation_id].append(user_id)
    return found


@functools.cache
def _participants_sql(alias: str, size: int) -> str:
    membership, conversation, user, left_at = _membership_names(alias)
    pk = connections[alias].ops.quote_name(Membership._meta.pk.column)
    return (
        f"SELECT {conversation}, {user} FROM {membership}"
        f" WHERE {conversation} IN ({', '.join(['%s'] * size)}) AND {left_at} IS NULL"
        f" ORDER BY {pk}"
    )


def conversation_participant_ids(*, user: AbstractBaseUser, conversation_id: int) -> list[int]:
    """Return the current participants of a conversation the user takes part in; raise ConversationNotFound otherwise."""
    if not is_id(conversation_id):
        raise ConversationNotFound()
    found = participants_of(conversation_ids=[conversation_id])[conversation_id]  # every `typing` that misses the cache
    if user.pk not in found:
        raise ConversationNotFound()
    return found


def conversation_message(*, conversation: Conversation, message_id: int) -> Message:
    """Return a message of the conversation; raise MessageNotFound when it is not there."""
    if not is_id(message_id):
        raise MessageNotFound()
    message = Message.objects.filter(conversation=conversation, pk=message_id).first()
    if message is None:
        raise MessageNotFound()
    return message


def user_conversations(*, user: AbstractBaseUser, conversation_id: int | None = None) -> QuerySet[Membership]:
    """Return the user's memberships, newest activity first, loaded for display in a fixed number of queries.

    Each membership carries its conversation (with `last_message` and its sender), the conversation's
    current memberships with their users in `conversation.active_memberships`, `unread_count`: the
    messages of others after the user's read marker, and `activity`: the conversation's last activity
    (the position of a page's cursor).
    """
    unread = (
        Message.objects.filter(conversation_id=OuterRef("conversation_id"), id__gt=OuterRef("last_read_id"))
        .exclude(sender_id=user.pk)
        .order_by()
        .values("conversation_id")
        .annotate(count=Count("id"))
        .values("count")
    )
    memberships = (
        active_memberships()
        .filter(user_id=user.pk)
        .select_related("conversation__last_message__sender")
        .prefetch_related(
            Prefetch(
                "conversation__memberships",
                queryset=active_memberships().select_related("user").order_by("id"),
                to_attr="active_memberships",
            )
        )
        .annotate(
            unread_count=Coalesce(Subquery(unread, output_field=IntegerField()), Value(0)),
            activity=F("conversation__last_activity_at"),
        )
        .order_by("-activity", "-conversation_id")
    )
    if conversation_id is not None:
        memberships = memberships.filter(conversation_id=conversation_id)
    return memberships


def user_conversation(*, user: AbstractBaseUser, conversation_id: int) -> Membership:
    """Return one of the user's memberships loaded like user_conversations; raise ConversationNotFound."""
    found = user_conversations(user=user, conversation_id=conversation_id).first()
    if found is None:
        raise ConversationNotFound()
    return found


def latest_message_id(*, user: AbstractBaseUser) -> int:
    """Return the id of the newest message of the user's conversations, 0 when there is none."""
    found = active_memberships().filter(user_id=user.pk).aggregate(latest=Max("conversation__last_message_id"))
    return found["latest"] or 0


def conversation_messages(
    *, conversation: Conversation, before: int | None = None, after: int | None = None, limit: int = 50
) -> list[Message]:
    """Return a page of messages in ascending id order.

    With `after`: the oldest `limit` messages above it (below `before` too, when given); otherwise the
    newest `limit` messages below `before` (the latest ones when neither is given).
    """
    messages = Message.objects.filter(conversation=conversation).select_related("sender")
    if before is not None:
        messages = messages.filter(id__lt=before)
    if after is not None:
        return list(messages.filter(id__gt=after).order_by("id")[:limit])
    return list(reversed(messages.order_by("-id")[:limit]))


def messages_after(*, user: AbstractBaseUser, after: int, limit: int) -> list[Message]:
    """Return up to `limit` messages of the user's conversations with an id above `after`, in id order."""
    conversations = active_memberships().filter(user_id=user.pk).values("conversation_id")
    return list(
        Message.objects.filter(conversation_id__in=conversations, id__gt=after)
        .select_related("sender")
        .order_by("id")[:limit]
    )


def user_notifications(*, user: AbstractBaseUser, unread_only: bool = False) -> QuerySet[Notification]:
    """Return the user's notifications, newest first (a queryset: callers take a page of it)."""
    notifications = Notification.objects.filter(user_id=user.pk)
    if unread_only:
        notifications = notifications.unread()
    return notifications.order_by("-id")


def unread_notification_count(*, user: AbstractBaseUser) -> int:
    """Return how many notifications the user has not read."""
    return Notification.objects.filter(user_id=user.pk).unread().count()
