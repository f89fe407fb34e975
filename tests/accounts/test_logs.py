"""Nothing logged while logging in, failing, refreshing, revoking or refusing holds a password or a token."""

from __future__ import annotations

import logging

import pytest
from rest_framework.test import APIClient

from accounts import services
from accounts.models import Device
from dedwen.logging import redact
from tests.accounts.leaks import assert_no_secrets, record_text
from tests.support.cast import PASSWORD

WRONG = "hunter2-not-the-password"


def test_no_password_token_or_session_key_reaches_a_log_record(alice, bob, caplog, settings):
    caplog.set_level(logging.DEBUG)
    client = APIClient(REMOTE_ADDR="10.9.0.1")
    secrets = [WRONG]

    for _ in range(5):
        client.post("/api/auth/login/", {"username": "alice", "password": WRONG}, format="json")
    client.post("/api/auth/login/", {"username": "alice", "password": PASSWORD}, format="json")  # throttled
    client.post("/api/auth/login/", f"username=alice&password={WRONG}", content_type="application/x-www-form-urlencoded")

    body = APIClient(REMOTE_ADDR="10.9.0.2").post("/api/auth/login/", {"username": "bob", "password": PASSWORD}, format="json")
    token, refresh = body.json()["token"], body.json()["refresh"]
    secrets += [token, refresh, body.cookies[settings.SESSION_COOKIE_NAME].value]

    rotated = APIClient().post("/api/auth/token/refresh/", {"refresh": refresh}, format="json").json()
    secrets += [rotated["token"], rotated["refresh"]]
    APIClient().post("/api/auth/token/refresh/", {"refresh": refresh}, format="json")  # reuse, refused
    APIClient(HTTP_AUTHORIZATION=f"Bearer {refresh}").get("/api/me/")  # wrong type
    APIClient(HTTP_AUTHORIZATION=f"Bearer {token[:-3]}abc").get("/api/me/")  # bad signature
    services.change_password(user=bob, new_password=WRONG + "!", current_device=None)
    secrets.append(WRONG + "!")
    APIClient(HTTP_AUTHORIZATION=f"Bearer {rotated['token']}").post("/api/auth/logout/")  # revoked by now

    assert Device.objects.get(user=bob).revoke_reason == Device.RevokeReason.PASSWORD_CHANGE
    assert any("logged in" in record_text(r) for r in caplog.records)  # the flows above did log
    assert_no_secrets(caplog.records, *secrets)


def test_the_leak_check_can_fail():
    def record(message: str, *args) -> logging.LogRecord:
        return logging.LogRecord("dedwen.test", logging.INFO, __file__, 1, message, args, None)

    for leaky in [
        record("token %s", "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoxfQ.c2lnbmF0dXJl"),
        record("password was %s", PASSWORD),
        record("session %s", "k3y"),
    ]:
        try:
            assert_no_secrets([leaky], "k3y")
        except AssertionError:
            continue
        raise AssertionError(f"not caught: {leaky.getMessage()}")


def test_the_console_handler_redacts_a_token_that_slips_through():
    from dedwen.logging import RedactSecretsFilter

    leaky = logging.LogRecord("x", logging.INFO, __file__, 1, "got %s", ("eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoxfQ.c2ln",), None)
    assert RedactSecretsFilter().filter(leaky)
    assert leaky.getMessage() == "got [redacted-token]"


@pytest.mark.parametrize(
    "text, redacted",
    [
        ("a eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln-_ b", "a [redacted-token] b"),  # a whole JWT
        ("cut at eyJhbGciOiJIUzI1NiJ9.eyJzdWIi", "cut at [redacted-token]"),  # a truncated one
        ("bare eyJhbGciOiJIUzI1NiJ9 header", "bare [redacted-token] header"),  # a lone segment
        ("eyJ" * 4, "[redacted-token]"),
        ("keyJ is no token, nor eyJ.", "keyJ is no token, nor eyJ."),
    ],
)
def test_redaction_replaces_every_jwt_shaped_run(text, redacted):
    assert redact(text) == redacted
