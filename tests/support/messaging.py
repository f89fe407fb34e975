"""Fixtures for messaging: conversations between the cast, and REST clients."""

from __future__ import annotations

import itertools

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError
from django.db.backends.utils import CursorWrapper
from rest_framework.test import APIClient

from messaging import services
from messaging.models import Message

_client_ids = itertools.count(1)


def direct(user, other):
    """Return the direct conversation of two users, opening it when needed."""
    return services.create_conversation(creator=user, participant_ids=[other.pk]).conversation


def send(sender, conversation, body: str = "hello", client_id: str | None = None):
    """Send a message through the service and return it."""
    client_id = client_id or f"test-{next(_client_ids)}"
    return services.send_message(sender=sender, conversation=conversation, body=body, client_id=client_id).message


@pytest.fixture
def messages_unstorable(monkeypatch):
    """Return a function making every INSERT into the messages table fail as a lost database would (any thread)."""
    table = Message._meta.db_table
    real_execute = CursorWrapper.execute

    def execute(self, sql, params=None):
        if sql.lstrip().upper().startswith("INSERT INTO") and table in sql.split("(", 1)[0]:
            raise OperationalError("connection refused")
        return real_execute(self, sql, params)

    return lambda: monkeypatch.setattr(CursorWrapper, "execute", execute)


@pytest.fixture
def alice_bob(alice, bob):
    """The direct conversation of alice and bob."""
    return direct(alice, bob)


@pytest.fixture
def api():
    """Return a function giving a REST client authenticated as a user (no login round trip)."""

    def client_for(user) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    return client_for


@pytest.fixture(autouse=True)
def fresh_throttles():
    """Start every test with no REST throttle counted (user ids come back in a new test database)."""
    if settings.REDIS_URL:
        from tests.support.services import (
            delete_keys,  # here: a plugin module imported early is not assert-rewritten
        )

        delete_keys(settings.REDIS_URL, f"{settings.CACHES['default']['KEY_PREFIX']}:*")
    else:
        cache.clear()
