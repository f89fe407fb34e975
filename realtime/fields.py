"""Strict JSON input types for every app's serializers, the id bound, and the one validation helper.

DRF would otherwise take "12" or 12.0 for an integer and 12 for a string. REST views and frame
handlers validate with the same serializers through `validated`; a refusal raises DRF's
ValidationError, which REST answers 400 and a socket as an `invalid` error (realtime.errors).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.utils import timezone
from rest_framework import serializers

MAX_ID = 2**63 - 1  # the largest id a database row can have


def datetime_text(value: datetime) -> str:
    """Format an aware datetime as the API's DateTimeField does: ISO 8601 in TIME_ZONE, UTC written `Z`.

    DRF's field looks the current time zone up (asgiref's Local) on every call, which is most of a
    presence snapshot's cost (one per contact); dedwen never activates another zone than TIME_ZONE.
    The texts of recent values are kept: a snapshot formats every contact's last_seen, and those
    change far less often than sockets open. A test pins the two equal.
    """
    return _datetime_text(value, timezone.get_default_timezone())


@functools.lru_cache(maxsize=8192)
def _datetime_text(value: datetime, zone) -> str:
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def is_id(value: int) -> bool:
    """Tell whether an integer can be a row id (1 to MAX_ID)."""
    return 0 < value <= MAX_ID


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer (not a string, float or boolean) that fits a database id."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """A JSON string, never a number coerced into one."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A JSON true or false."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class IdField(StrictIntegerField):
    """A positive database id, as a JSON integer."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        super().__init__(**kwargs)


@functools.cache
def _validator(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    """Return one reusable instance of a serializer: building its fields costs more than validating."""
    return serializer_class()


def validated(serializer_class: type[serializers.Serializer], data: Mapping[str, Any]) -> dict[str, Any]:
    """Return `data` validated by the serializer (as is_valid does), or raise its ValidationError."""
    return _validator(serializer_class).run_validation(data)
