"""GET /api/presence/?user=ID&user=ID: only users who share a conversation with the caller."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from asgiref.sync import async_to_sync

from presence.models import LastSeen
from presence.runtime import running_store
from presence.selectors import Status
from tests.support.messaging import direct


async def _open(user_id: int, socket_id: str) -> None:
    await running_store().open(user_id=user_id, socket_id=socket_id)


@pytest.fixture
def bob_online(bob):
    async_to_sync(_open)(bob.pk, "test.bob")


def test_answers_the_status_and_last_seen_of_contacts(alice, bob, carol, login, bob_online):
    direct(alice, bob)
    direct(alice, carol)
    LastSeen.objects.create(user=carol, at=datetime(2026, 1, 2, tzinfo=UTC))
    session = login(alice)

    response = session.bearer().get("/api/presence/", {"user": [bob.pk, carol.pk]})

    assert response.status_code == 200
    assert response.json() == [
        {"user_id": bob.pk, "status": Status.ONLINE, "last_seen": None},
        {"user_id": carol.pk, "status": Status.OFFLINE, "last_seen": "2026-01-02T00:00:00Z"},
    ]


def test_strangers_unknown_users_and_the_caller_are_not_disclosed(alice, bob, carol, login, bob_online):
    session = login(alice)

    response = session.bearer().get("/api/presence/", {"user": [bob.pk, carol.pk, alice.pk, 987654]})

    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize("query", ["", "?user=", "?user=abc", "?user=1&user=x", "?user=-3", "?user=1.5"])
def test_missing_or_non_numeric_ids_are_a_400_json_error(alice, login, query):
    session = login(alice)

    response = session.bearer().get(f"/api/presence/{query}")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_up_to_200_ids_are_answered_and_201_refused(alice, bob, login, bob_online):
    direct(alice, bob)
    session = login(alice).bearer()

    answered = session.get("/api/presence/", {"user": [bob.pk, *range(10_000, 10_199)]})
    refused = session.get("/api/presence/", {"user": [bob.pk, *range(10_000, 10_200)]})

    assert answered.status_code == 200
    assert answered.json() == [{"user_id": bob.pk, "status": Status.ONLINE, "last_seen": None}]
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid"


def test_needs_authentication(client):
    response = client.get("/api/presence/?user=1")

    assert response.status_code in (401, 403)
    assert "error" in response.json()
