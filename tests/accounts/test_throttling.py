"""Failed logins are throttled: in 15 minutes, 5 failures per (username, IP) pair or 50 per IP, then 429 with Retry-After.

Nobody can lock a victim out by guessing at their account: failures count for the guesser's address only.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Device
from tests.support.cast import PASSWORD

LOGIN = "/api/auth/login/"
LIMIT = 5
IP_LIMIT = 50
WINDOW = timedelta(minutes=15)


@pytest.fixture(autouse=True)
def cheap_hashing(settings):
    """Throttling does not depend on the hasher; a cheap one keeps dozens of password checks fast."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def api_login(username: str, password: str, *, ip: str = "10.1.1.1"):
    return APIClient(REMOTE_ADDR=ip).post(LOGIN, {"username": username, "password": password}, format="json")


def assert_throttled(response):
    assert response.status_code == 429
    assert response.json() == {"error": {"code": "throttled", "message": "Too many failed logins. Try again later."}}
    assert 0 < int(response["Retry-After"]) <= WINDOW.total_seconds()
    assert "token" not in response.json()


def test_the_contract_numbers_are_the_configured_ones():
    assert settings.AXES_FAILURE_LIMIT == LIMIT
    assert settings.DEDWEN_LOGIN_IP_FAILURE_LIMIT == IP_LIMIT
    assert settings.AXES_COOLOFF_TIME == WINDOW


def test_five_failures_answer_401_then_the_right_password_gets_429(alice):
    for _ in range(LIMIT):
        assert api_login("alice", "wrong").status_code == 401

    assert_throttled(api_login("alice", PASSWORD))
    assert_throttled(api_login("alice", "wrong"))
    assert not Device.objects.exists()


def test_successes_do_not_count(alice):
    for _ in range(LIMIT + 1):
        assert api_login("alice", PASSWORD).status_code == 200
    for _ in range(LIMIT):
        assert api_login("alice", "wrong").status_code == 401
    assert_throttled(api_login("alice", PASSWORD))


def test_an_attackers_failures_do_not_lock_the_user_out_from_another_ip(alice):
    attacker, home = "10.2.0.66", "10.2.0.1"
    for _ in range(LIMIT * 3):
        api_login("alice", "guess", ip=attacker)
    assert_throttled(api_login("alice", PASSWORD, ip=attacker))

    response = api_login("alice", PASSWORD, ip=home)

    assert response.status_code == 200
    assert Device.objects.get(pk=response.json()["device"]["id"]).ip_address == home


def test_the_pair_limit_is_per_username(alice):
    for _ in range(LIMIT):
        assert api_login("alice", "wrong", ip="10.2.1.1").status_code == 401

    assert_throttled(api_login("alice", PASSWORD, ip="10.2.1.1"))
    assert api_login("bob-does-not-exist", "x", ip="10.2.1.1").status_code == 401


def test_the_per_ip_budget_bites_across_usernames(alice):
    # Fewer than LIMIT failures per username, so only the per-IP budget can lock the address out.
    usernames = [f"guess{n}" for n in range(IP_LIMIT // (LIMIT - 1) + 1)]
    failures = 0
    for username in usernames:
        for _ in range(LIMIT - 1):
            if failures < IP_LIMIT:
                assert api_login(username, "wrong", ip="10.3.0.1").status_code == 401
                failures += 1

    assert_throttled(api_login("alice", PASSWORD, ip="10.3.0.1"))
    assert_throttled(api_login("someone-new", "wrong", ip="10.3.0.1"))
    assert api_login("alice", PASSWORD, ip="10.3.0.2").status_code == 200


def test_retry_after_is_the_time_left_until_the_lockout_ends(alice):
    for _ in range(LIMIT):
        assert api_login("alice", "wrong").status_code == 401
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=10))

    response = api_login("alice", PASSWORD)

    assert response.status_code == 429
    assert timedelta(minutes=4) < timedelta(seconds=int(response["Retry-After"])) <= timedelta(minutes=5, seconds=1)


def test_failures_older_than_the_window_no_longer_count(alice):
    for _ in range(LIMIT):
        assert api_login("alice", "wrong").status_code == 401
    assert api_login("alice", PASSWORD).status_code == 429

    AccessAttempt.objects.update(attempt_time=timezone.now() - WINDOW - timedelta(seconds=1))

    assert api_login("alice", PASSWORD).status_code == 200


def test_bad_input_does_not_count_as_a_failure(alice):
    for _ in range(LIMIT + 1):
        assert APIClient(REMOTE_ADDR="10.4.0.1").post(LOGIN, {"username": "alice"}, format="json").status_code == 400
    assert api_login("alice", PASSWORD, ip="10.4.0.1").status_code == 200


# --- the HTML form shares the same counters -----------------------------------------------------


def form_login(client: Client, username: str, password: str):
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    return client.post(
        "/accounts/login/",
        {"username": username, "password": password, "csrfmiddlewaretoken": token, "next": "/api/me/"},
    )


def test_the_html_form_is_throttled_with_a_429_page(alice):
    client = Client(enforce_csrf_checks=True, REMOTE_ADDR="10.5.0.1")
    for _ in range(LIMIT):
        response = form_login(client, "alice", "wrong")
        assert response.status_code == 200
        assert response.context["form"].errors

    response = form_login(client, "alice", PASSWORD)

    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= WINDOW.total_seconds()
    assert response["Content-Type"].startswith("text/html")
    assert b"Too many failed logins" in response.content
    assert not Device.objects.exists()


def test_api_failures_lock_the_html_form_too(alice):
    for _ in range(LIMIT):
        assert api_login("alice", "wrong", ip="10.6.0.1").status_code == 401
    response = form_login(Client(enforce_csrf_checks=True, REMOTE_ADDR="10.6.0.1"), "alice", PASSWORD)
    assert response.status_code == 429


def test_an_attacker_on_the_form_does_not_lock_the_user_out_of_the_form_elsewhere(alice):
    attacker = Client(enforce_csrf_checks=True, REMOTE_ADDR="10.6.1.66")
    for _ in range(LIMIT):
        assert form_login(attacker, "alice", "guess").status_code == 200
    assert form_login(attacker, "alice", PASSWORD).status_code == 429

    response = form_login(Client(enforce_csrf_checks=True, REMOTE_ADDR="10.6.1.1"), "alice", PASSWORD)

    assert response.status_code == 302
    assert Device.objects.get(user=alice).ip_address == "10.6.1.1"


def test_the_html_form_logs_in_and_creates_a_device(alice):
    client = Client(enforce_csrf_checks=True, REMOTE_ADDR="10.7.0.1", HTTP_USER_AGENT="Firefox/130")
    response = form_login(client, "alice", PASSWORD)

    assert response.status_code == 302
    assert response["Location"] == "/api/me/"
    device = Device.objects.get(user=alice)
    assert (device.client_id, device.user_agent, device.ip_address) == ("web", "Firefox/130", "10.7.0.1")
    assert response.cookies[settings.SESSION_COOKIE_NAME]["httponly"]
    assert client.get("/api/me/").json()["username"] == "alice"


def test_the_html_form_requires_csrf(alice):
    response = Client(enforce_csrf_checks=True).post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 403
    assert not Device.objects.exists()


# --- behind a reverse proxy ---------------------------------------------------------------------


def behind_proxy(username: str, password: str, *, forwarded_for: str):
    client = APIClient(REMOTE_ADDR="10.0.0.254", HTTP_X_FORWARDED_FOR=forwarded_for)
    return client.post(LOGIN, {"username": username, "password": password}, format="json")


def test_behind_a_proxy_each_client_is_counted_by_its_own_address(alice, settings):
    settings.DEDWEN_PROXY_COUNT = 1
    for _ in range(LIMIT):
        assert behind_proxy("alice", "wrong", forwarded_for="203.0.113.7").status_code == 401
    assert behind_proxy("alice", PASSWORD, forwarded_for="203.0.113.7").status_code == 429
    # A spoofed leftmost hop changes nothing: the proxy's own entry is the one that counts.
    assert behind_proxy("alice", PASSWORD, forwarded_for="198.51.100.1, 203.0.113.7").status_code == 429

    response = behind_proxy("alice", PASSWORD, forwarded_for="198.51.100.9")
    assert response.status_code == 200
    assert Device.objects.get(pk=response.json()["device"]["id"]).ip_address == "198.51.100.9"


def test_without_a_proxy_setting_x_forwarded_for_is_ignored(alice):
    for n in range(LIMIT):
        assert behind_proxy("alice", "wrong", forwarded_for=f"203.0.113.{n}").status_code == 401
    assert behind_proxy("alice", PASSWORD, forwarded_for="198.51.100.9").status_code == 429
