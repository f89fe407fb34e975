"""Fields other apps add to `GET/PATCH /api/me/`, registered from their AppConfig.ready (accounts knows none of them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rest_framework import serializers


@dataclass(frozen=True)
class MeField:
    """One field of the user's own object: its strict type, how to read it and how to store a new value."""

    name: str
    field: Callable[[], serializers.Field]  # builds the field (a fresh one per serializer)
    read: Callable[..., Any]  # read(user_id=...) -> value
    write: Callable[..., None]  # write(user_id=..., value=...), inside the request's transaction


_fields: dict[str, MeField] = {}


def register(field: MeField) -> None:
    """Add a field to /api/me/ (again under the same name: replace it)."""
    _fields[field.name] = field


def fields() -> list[MeField]:
    """Return the registered fields, in registration order."""
    return list(_fields.values())
