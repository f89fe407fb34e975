"""POST /api/auth/login/: a session and a new device with its tokens; bad input gets a JSON error and nothing else."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from accounts.models import Device
from accounts.services import SESSION_DEVICE_KEY
from tests.support.cast import PASSWORD

LOGIN = "/api/auth/login/"


def post_login(client: APIClient, body, **kwargs):
    return client.post(LOGIN, body, format="json", **kwargs)


def test_login_answers_user_tokens_expiry_and_device(alice):
    client = APIClient(HTTP_USER_AGENT="Firefox/130", REMOTE_ADDR="10.0.0.7")
    response = post_login(client, {"username": "alice", "password": PASSWORD, "client_id": "phone-1"})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"user", "token", "refresh", "expiresAt", "device"}
    assert body["user"] == {"id": alice.pk, "username": "alice", "email": "alice@example.com"}
    assert set(body["device"]) == {"id"}
    device = Device.objects.get(pk=body["device"]["id"])
    assert (device.user, device.client_id, device.user_agent, device.ip_address) == (alice, "phone-1", "Firefox/130", "10.0.0.7")
    assert device.revoked_at is None
    expires_at = datetime.fromisoformat(body["expiresAt"].replace("Z", "+00:00"))
    assert expires_at.utcoffset() == timedelta(0)
    lifetime = expires_at - datetime.now(timezone.utc)
    assert timedelta(seconds=settings.ACCESS_TOKEN_LIFETIME - 30) < lifetime <= timedelta(seconds=settings.ACCESS_TOKEN_LIFETIME)


def test_login_sets_an_httponly_session_cookie_bound_to_the_device_and_never_shows_its_key(alice):
    client = APIClient()
    response = post_login(client, {"username": "alice", "password": PASSWORD})

    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert cookie.value not in response.content.decode()
    assert client.session[SESSION_DEVICE_KEY] == response.json()["device"]["id"]
    assert client.get("/api/me/").json()["username"] == "alice"


def test_login_cycles_the_session_key(alice):
    client = APIClient()
    client.get("/accounts/login/")
    session = client.session
    session["before_login"] = True
    session.save()
    key_before = session.session_key
    client.cookies[settings.SESSION_COOKIE_NAME] = key_before

    response = post_login(client, {"username": "alice", "password": PASSWORD})

    assert response.status_code == 200
    assert response.cookies[settings.SESSION_COOKIE_NAME].value != key_before


def test_each_login_is_a_new_device(alice, login):
    first, second = login(alice), login(alice)
    assert first.device_id != second.device_id
    assert Device.objects.filter(user=alice).count() == 2


@pytest.mark.parametrize(
    "content_type, payload",
    [
        ("application/x-www-form-urlencoded", f"username=alice&password={PASSWORD}"),
        ("multipart/form-data; boundary=xyz", '--xyz\r\nContent-Disposition: form-data; name="username"\r\n\r\nalice\r\n--xyz--\r\n'),
        ("text/plain", '{"username": "alice", "password": "%s"}' % PASSWORD),
    ],
)
def test_login_accepts_json_only(alice, content_type, payload):
    response = APIClient().post(LOGIN, payload, content_type=content_type)
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert not Device.objects.exists()


BAD_BODIES = {
    "wrong password": ({"username": "alice", "password": "wrong"}, 401),
    "unknown user": ({"username": "mallory", "password": PASSWORD}, 401),
    "no password": ({"username": "alice"}, 400),
    "no username": ({"password": PASSWORD}, 400),
    "empty body": ({}, 400),
    "empty username": ({"username": "", "password": PASSWORD}, 400),
    "10 KB username": ({"username": "a" * 10240, "password": PASSWORD}, 400),
    "username not a string": ({"username": ["alice"], "password": PASSWORD}, 400),
    "password not a string": ({"username": "alice", "password": {"x": 1}}, 400),
    "client id too long": ({"username": "alice", "password": PASSWORD, "client_id": "c" * 101}, 400),
    "a JSON array": (["alice", PASSWORD], 400),
    "a JSON string": ("alice", 400),
}


@pytest.mark.parametrize("body, status", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bad_login_input_gets_a_json_error_no_token_and_no_device(alice, body, status):
    client = APIClient()
    response = post_login(client, body)

    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] and error["message"]
    assert "token" not in response.json() and "refresh" not in response.json()
    assert not Device.objects.exists()
    assert settings.SESSION_COOKIE_NAME not in response.cookies


@pytest.mark.parametrize("raw", [b"{", b"not json", b'{"username": NaN}', b"\xff\xfe"])
def test_login_with_a_broken_json_body_is_a_400_json_error(alice, raw):
    response = APIClient().post(LOGIN, raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    assert not Device.objects.exists()


def test_wrong_password_answers_invalid_credentials(alice):
    response = post_login(APIClient(), {"username": "alice", "password": "wrong"})
    assert response.json() == {"error": {"code": "invalid_credentials", "message": "The username or password is wrong."}}


def test_an_inactive_user_cannot_log_in(alice):
    alice.is_active = False
    alice.save()
    response = post_login(APIClient(), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 401
    assert not Device.objects.exists()


def test_an_oversized_body_is_a_413_json_error(alice):
    body = '{"username": "alice", "password": "%s"}' % ("x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1))
    response = APIClient().post(LOGIN, body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert not Device.objects.exists()
