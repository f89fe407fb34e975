"""A user's circle: everyone sharing a conversation with them, with last_seen and visibility, read mostly from memory.

Every socket's authentication reads its user's circle. Read in full each time, the members of one
1,000-member conversation opening together read a million rows (docs/presence.md, "Kept
conversations"). So each process keeps, per conversation, the active members with their last_seen and
visibility, under the circle version's token (`CircleVersion`). Triggers replace the token in every
transaction that changes a membership, a last_seen or a visibility (migration 0003).

A read is one statement: the token, the user's own row and conversations, and, only when the token
is not the one the process keeps conversations under, all their members. A conversation the process
does not keep (new to it, or dropped for room) takes a second statement, whose rows are at least as
new as the token read before them: kept under that token, they never show a change as undone. A read inside a
transaction neither uses nor fills what is kept: it may see its own changes before they commit, or
before PostgreSQL's deferred triggers replace the token.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from messaging.selectors import active_membership_sql
from presence.models import CircleVersion, LastSeen, Visibility
from realtime.rawsql import RawRead, padded

# The most members a process keeps, over all its conversations: about 100 bytes each.
KEPT_MEMBERS = 200_000

# The databases whose triggers replace the token (migration 0003); on others nothing is kept.
_VERSIONED = frozenset({"sqlite", "postgresql"})

Member = tuple[int, datetime | None, bool | None]  # user id, last_seen, visible (None: no Visibility row)


@dataclass(frozen=True)
class Circle:
    """A user, when they were last seen, and everyone sharing a conversation with them with theirs (`contacts`, by id)."""

    user_id: int
    last_seen: datetime | None
    contacts: dict[int, datetime | None]
    visible: bool = True  # the user's presence_visible
    hidden: frozenset[int] = frozenset()  # the contacts who are not visible


def circle_of(*, user_id: int) -> Circle:
    """Return the user's last_seen and visibility, and their contacts' last_seen and who of them is hidden.

    One statement (written out: every socket's authentication runs it) returns the token, the
    user's own row and conversations, and, unless the token is the one this process keeps
    conversations under, every member of those conversations. A second statement runs only for
    conversations not kept under a current token. No Visibility row means visible.
    """
    alias = _circle.db()
    keeping = _keeping(connections[alias])
    rows = _circle.rows({"user_id": user_id, "kept": _kept.token if keeping else None}, using=alias)
    own = [row for row in rows if row[0] == _OWN]
    if not own:
        return Circle(user_id=user_id, last_seen=None, contacts={})
    _, token, _, _, last_seen, visible = own[0]
    conversation_ids = [conversation_id for _, _, conversation_id, *_ in own if conversation_id is not None]
    if len(rows) > len(own) or not conversation_ids:  # the token moved, or nothing is kept: every member came with it
        members = _by_conversation(row[2:] for row in rows[len(own) :])
        if keeping and token is not None:
            _kept.keep(token, members)
    else:
        members = _kept.members(token, conversation_ids, read=_read_members)
    contacts, hidden = {}, set()
    for conversation_id in conversation_ids:
        for member_id, at, member_visible in members[conversation_id]:
            contacts[member_id] = at
            if member_visible is False:
                hidden.add(member_id)
    contacts.pop(user_id, None)
    hidden.discard(user_id)
    return Circle(user_id=user_id, last_seen=last_seen, contacts=contacts, visible=visible is not False, hidden=frozenset(hidden))


def _keeping(connection: BaseDatabaseWrapper) -> bool:
    """Return whether this read may use and fill what is kept: outside a transaction, on a database with the triggers."""
    return connection.vendor in _VERSIONED and not connection.in_atomic_block


def forget_kept() -> None:
    """Drop what this process keeps (tests)."""
    _kept.clear()


class _Kept:
    """The members of the conversations this process read last, under the token they were read with, at most KEPT_MEMBERS."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the database thread, and the threads of sync views
        self.token: int | None = None
        self._conversations: OrderedDict[int, tuple[Member, ...]] = OrderedDict()
        self._size = 0

    def members(self, token: int, conversation_ids: list[int], *, read) -> dict[int, tuple[Member, ...]]:
        """Return each conversation's members: kept ones under `token`, the others from `read`, then kept."""
        found: dict[int, tuple[Member, ...]] = {}
        with self._lock:
            if token == self.token:
                for conversation_id in conversation_ids:
                    members = self._conversations.get(conversation_id)
                    if members is not None:
                        self._conversations.move_to_end(conversation_id)
                        found[conversation_id] = members
        missing = [conversation_id for conversation_id in conversation_ids if conversation_id not in found]
        if missing:
            read_now = read(missing)
            found.update(read_now)
            self.keep(token, read_now)
        return found

    def keep(self, token: int, read: dict[int, tuple[Member, ...]]) -> None:
        """Keep conversations' members read under `token`, dropping all kept under another token."""
        with self._lock:
            if token != self.token:
                self._drop_all()
                self.token = token
            for conversation_id, members in read.items():
                if len(members) > KEPT_MEMBERS:
                    continue
                previous = self._conversations.pop(conversation_id, None)
                self._size += len(members) - (len(previous) if previous is not None else 0)
                self._conversations[conversation_id] = members
            while self._size > KEPT_MEMBERS:
                _, evicted = self._conversations.popitem(last=False)
                self._size -= len(evicted)

    def clear(self) -> None:
        with self._lock:
            self._drop_all()
            self.token = None

    def _drop_all(self) -> None:
        self._conversations.clear()
        self._size = 0


_kept = _Kept()


_OWN, _MEMBER = 0, 1  # the two kinds of a circle read's rows


def _circle_sql(connection: BaseDatabaseWrapper) -> str:
    """Return the statement of `circle_of`: the token and the user's rows, then the members unless `kept` is the token.

    The members' part is cut once, before any row is read, when the token is `kept` (a constant
    condition: SQLite tests it before its loops, PostgreSQL as a one-time filter).
    """
    quote = connection.ops.quote_name
    users = get_user_model()._meta
    version = quote(CircleVersion._meta.db_table)
    user_pk = f"u.{quote(users.pk.column)}"
    active = active_membership_sql(connection)
    return f"""
        SELECT {_OWN}, k.token, m.conversation_id, {user_pk}, s.at, v.visible FROM {quote(users.db_table)} u
            LEFT JOIN {version} k ON k.id = 1
            {_state_joins(connection, user_pk)}
            LEFT JOIN ({active}) m ON m.user_id = {user_pk}
        WHERE {user_pk} = %(user_id)s
        UNION ALL
        SELECT {_MEMBER}, NULL, theirs.conversation_id, theirs.user_id, s.at, v.visible
            FROM ({active}) mine JOIN ({active}) theirs ON theirs.conversation_id = mine.conversation_id
            {_state_joins(connection, "theirs.user_id")}
        WHERE mine.user_id = %(user_id)s AND NOT EXISTS (SELECT 1 FROM {version} WHERE id = 1 AND token = %(kept)s)
        ORDER BY 1, 3, 4
    """


def _state_joins(connection: BaseDatabaseWrapper, user_id: str) -> str:
    """Return the joins adding `s.at` (last_seen) and `v.visible` to the rows of the user id column `user_id`."""
    quote = connection.ops.quote_name
    return (
        f"LEFT JOIN {quote(LastSeen._meta.db_table)} s ON s.user_id = {user_id}"
        f" LEFT JOIN {quote(Visibility._meta.db_table)} v ON v.user_id = {user_id}"
    )


_circle = RawRead(
    sql=_circle_sql,
    fields=[None, None, None, None, LastSeen._meta.get_field("at"), Visibility._meta.get_field("visible")],
    model=LastSeen,
    convert_once=True,  # each member's last_seen comes back in every circle that lists them
)


def _read_members(conversation_ids: list[int]) -> dict[int, tuple[Member, ...]]:
    """Return each conversation's active members, by id, with their last_seen and visibility, in one statement."""
    if not conversation_ids:
        return {}
    ids = padded(list(dict.fromkeys(conversation_ids)))
    return _by_conversation(_members_read(len(ids)).rows(ids), conversation_ids=conversation_ids)


def _by_conversation(rows: Iterable[tuple], *, conversation_ids: Iterable[int] = ()) -> dict[int, tuple[Member, ...]]:
    """Return rows of (conversation id, member id, last_seen, visible) as each conversation's members (none for `conversation_ids` without rows)."""
    found: dict[int, list[Member]] = {conversation_id: [] for conversation_id in conversation_ids}
    for conversation_id, member_id, at, visible in rows:
        found.setdefault(conversation_id, []).append((member_id, at, visible))
    return {conversation_id: tuple(members) for conversation_id, members in found.items()}


@functools.cache
def _members_read(size: int) -> RawRead:
    """Return the read of the members of `size` conversations (padded to a power of two: few statements)."""

    def sql(connection: BaseDatabaseWrapper) -> str:
        return f"""
            SELECT m.conversation_id, m.user_id, s.at, v.visible FROM ({active_membership_sql(connection)}) m
                {_state_joins(connection, "m.user_id")}
            WHERE m.conversation_id IN ({", ".join(["%s"] * size)})
            ORDER BY m.conversation_id, m.user_id
        """

    return RawRead(
        sql=sql,
        fields=[None, None, LastSeen._meta.get_field("at"), Visibility._meta.get_field("visible")],
        model=LastSeen,
        convert_once=True,  # each member's last_seen comes back for every conversation they share
    )
