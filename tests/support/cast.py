"""The cast: alice, bob and carol, and clients logged in as them."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

PASSWORD = "correct horse battery staple"


@dataclass
class LoggedIn:
    """A user logged in through the JSON API: their tokens, device id and a client with the session."""

    user: object
    token: str
    refresh: str
    device_id: int
    client: APIClient

    def bearer(self) -> APIClient:
        """Return a fresh client that authenticates with the access token only (no session)."""
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.token}")
        return client


def make_user(username: str, **extra):
    return get_user_model().objects.create_user(
        username=username, email=f"{username}@example.com", password=PASSWORD, **extra
    )


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def bob(db):
    return make_user("bob")


@pytest.fixture
def carol(db):
    return make_user("carol")


def log_in(user, *, client_id: str = "", user_agent: str = "pytest", ip: str = "127.0.0.1") -> LoggedIn:
    """Log a user in through POST /api/auth/login/ and return what the server handed out."""
    client = APIClient(enforce_csrf_checks=True, HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)
    response = client.post(
        "/api/auth/login/", {"username": user.username, "password": PASSWORD, "client_id": client_id}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    return LoggedIn(user=user, token=body["token"], refresh=body["refresh"], device_id=body["device"]["id"], client=client)


@pytest.fixture
def login(db):
    """Return a function that logs a user in through the JSON API."""
    return log_in
