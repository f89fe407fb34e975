"""Fixtures for messaging: conversations between the cast, and a fake socket for frame handlers."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import Any

import pytest
from rest_framework.test import APIClient

from dedwen.realtime.context import SocketContext
from messaging import services

_client_ids = itertools.count(1)


def direct(user, other):
    """Return the direct conversation of two users, opening it when needed."""
    return services.create_conversation(creator=user, participant_ids=[other.pk]).conversation


def send(sender, conversation, body: str = "hello", client_id: str | None = None):
    """Send a message through the service and return it."""
    client_id = client_id or f"test-{next(_client_ids)}"
    return services.send_message(sender=sender, conversation=conversation, body=body, client_id=client_id).message


@pytest.fixture
def alice_bob(alice, bob):
    """The direct conversation of alice and bob."""
    return direct(alice, bob)


@dataclass
class FakeSocket:
    """A socket for calling frame handlers directly: it records the frames they answer with."""

    user: Any
    device_id: int = 1
    sent: list[dict] = field(default_factory=list)

    @property
    def ctx(self) -> SocketContext:
        return SocketContext(
            user_id=self.user.pk,
            username=self.user.get_username(),
            device_id=self.device_id,
            channel_name=f"fake.{self.user.pk}",
            send_frame=self._send_frame,
        )

    async def _send_frame(self, frame_type, data, ref=None) -> None:
        frame = {"type": str(frame_type), "data": data}
        if ref is not None:
            frame["ref"] = ref
        self.sent.append(frame)


@pytest.fixture
def fake_socket():
    """Return a function making a FakeSocket for a user."""
    return FakeSocket


@pytest.fixture
def api():
    """Return a function giving a REST client authenticated as a user (no login round trip)."""

    def client_for(user) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    return client_for


@pytest.fixture
def redis_layer():
    """Skip without REDIS_URL (the embedded run), but fail when DEDWEN_REQUIRE_SERVICES=1 demands Redis."""
    if not os.environ.get("REDIS_URL"):
        if os.environ.get("DEDWEN_REQUIRE_SERVICES") == "1":
            pytest.fail("REDIS_URL is unset but DEDWEN_REQUIRE_SERVICES=1")
        pytest.skip("needs REDIS_URL (the services run)")
    return os.environ["REDIS_URL"]
