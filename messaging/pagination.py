"""Cursor pages of the REST lists (conversations, notifications): newest first, the next page in a `Link` header.

DRF's CursorPagination makes and reads the opaque cursor; the body stays the list it always was,
and `Link: <url>; rel="next"` (RFC 8288) names the next page until the last one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils.dateparse import parse_datetime
from rest_framework import exceptions
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from realtime.fields import MAX_ID

LIST_PAGE_MAX = 100  # the most items one page of a list holds (docs/protocol.md)
LIST_PAGE_DEFAULT = 50


class NewestFirstPagination(CursorPagination):
    """A page of `limit` items newest first; a cursor that cannot be read is a 400, never a 404 or a 500."""

    page_size_query_param = None  # `limit` is validated by the view's query serializer
    max_page_size = LIST_PAGE_MAX

    def __init__(self, *, ordering: tuple[str, ...], page_size: int, position_is_valid: Callable[[str], bool]) -> None:
        self.ordering = ordering
        self.page_size = min(page_size, LIST_PAGE_MAX)
        self.position_is_valid = position_is_valid

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            cursor = False
        if cursor is False or (cursor is not None and cursor.position is not None and not self.position_is_valid(cursor.position)):
            raise exceptions.ValidationError({self.cursor_query_param: ["Invalid cursor."]})
        return cursor

    def page_response(self, data: Any) -> Response:
        """Return the page's data with the next page's link, when there is one."""
        response = Response(data)
        next_link = self.get_next_link()
        if next_link is not None:
            response["Link"] = f'<{next_link}>; rel="next"'
        return response


def _is_id(position: str) -> bool:
    return position.isascii() and position.isdigit() and len(position) <= 19 and int(position) <= MAX_ID


def _is_datetime(position: str) -> bool:
    try:
        return len(position) <= 40 and parse_datetime(position) is not None
    except ValueError:
        return False


def conversations_pagination(*, page_size: int) -> NewestFirstPagination:
    """Pages of a user's memberships (selectors.user_memberships), newest activity first."""
    return NewestFirstPagination(ordering=("-activity", "-conversation_id"), page_size=page_size, position_is_valid=_is_datetime)


def notifications_pagination(*, page_size: int) -> NewestFirstPagination:
    """Pages of a user's notifications, newest first."""
    return NewestFirstPagination(ordering=("-id",), page_size=page_size, position_is_valid=_is_id)
