"""The cast: alice, bob and carol, and clients logged in as them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from rest_framework.test import APIClient

from accounts.models import Device
from accounts.tokens import DeviceRefreshToken

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


@cache
def _hash_with(hasher: str) -> str:
    return make_password(PASSWORD)  # the default hasher is `hasher`: the cache is keyed on it


def password_hash() -> str:
    """Return PASSWORD hashed by the configured hasher, computed once per run (servers started by tests accept it)."""
    return _hash_with(settings.PASSWORD_HASHERS[0])


def make_user(username: str, **extra):
    """Create a user whose password is PASSWORD."""
    user = get_user_model()(username=username, email=f"{username}@example.com", **extra)
    user.password = password_hash()
    user.save()
    return user


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


@dataclass
class Minted:
    """A device minted for a user without going through a login: its tokens, for token-level specs."""

    user: object
    device: Device
    token: str
    refresh: str

    @property
    def device_id(self) -> int:
        return self.device.pk

    def bearer(self) -> APIClient:
        """Return a fresh client that authenticates with the access token."""
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.token}")
        return client


def mint_device(user, *, client_id: str = "") -> Minted:
    """Create a device for the user and mint its tokens directly (no password check, no session)."""
    device = Device.objects.create(user=user, client_id=client_id, user_agent="pytest", ip_address="127.0.0.1")
    refresh = DeviceRefreshToken.for_device(device)
    return Minted(user=user, device=device, token=str(refresh.access_token), refresh=str(refresh))


@pytest.fixture
def device_of(db):
    """Return a function that mints a device and its tokens for a user (cheaper than logging in)."""
    return mint_device


@pytest.fixture
def login(db):
    """Return a function that logs a user in through the JSON API."""
    return log_in


@pytest.fixture
def root(db):
    """A superuser, for the admin."""
    return make_user("root", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(root):
    """A Django test client logged in to the admin as root (its login is a device of root's too)."""
    from django.test import Client

    client = Client()
    client.force_login(root)
    return client
