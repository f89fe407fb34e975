"""The pages as the server renders them (no browser needed): login, devices, password, user search."""

from __future__ import annotations

import json
import re

from django.contrib.auth import get_user_model
from django.test import Client

from accounts.models import Device
from messaging.protocol import MessagingClientFrame
from realtime.protocol import CloseCode
from realtime.registry import names_for_clients
from tests.support.cast import PASSWORD
from tests.support.messaging import direct
from tests.support.server import REPO


def logged_in(user, *, user_agent: str = "Firefox/130") -> Client:
    """Return a client logged in through the login form (a session and a device)."""
    client = Client(HTTP_USER_AGENT=user_agent)
    response = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.content
    return client


def test_the_login_form_says_when_the_password_is_wrong(alice):
    response = Client().post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    assert b'role="alert"' in response.content
    assert b"Please enter a correct username and password" in response.content


def test_the_login_form_says_when_logins_are_throttled(alice, settings):
    client = Client()
    answers = [client.post("/accounts/login/", {"username": "alice", "password": "wrong"}) for _ in range(6)]
    assert answers[-1].status_code == 429
    assert answers[-1]["Retry-After"]
    assert b"Too many failed logins" in answers[-1].content
    assert re.search(rb'<button type="submit" class="primary"\s+disabled>', answers[-1].content)


def test_pages_need_a_login(db):
    for path in ["/", "/conversations/1/", "/accounts/devices/", "/accounts/password/"]:
        response = Client().get(path)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), path


def test_pages_hand_the_client_the_protocol_names_from_protocol_py(alice):
    """The JavaScript client reads frame types and close codes from the page, never its own copy."""
    page = logged_in(alice).get("/").content.decode()
    script = re.search(r'<script id="dedwen-protocol" type="application/json">(.*?)</script>', page, re.DOTALL)
    names = json.loads(script.group(1))
    assert names == names_for_clients()
    assert names["close_codes"]["FORBIDDEN"] == CloseCode.FORBIDDEN
    assert names["client_frames"]["MESSAGE_SEND"] == MessagingClientFrame.MESSAGE_SEND
    source = REPO.joinpath("static/dedwen/realtime.js").read_text()
    code = "\n".join(line.split("//")[0] for line in source.splitlines())  # comments may name codes
    assert not re.findall(r"\b4[0-9]{3}\b", code), "a close code written out in realtime.js"


def test_a_conversation_page_is_only_for_its_participants(alice, bob, carol):
    conversation = direct(alice, bob)
    assert logged_in(alice).get(f"/conversations/{conversation.pk}/").status_code == 200
    assert logged_in(carol).get(f"/conversations/{conversation.pk}/").status_code == 404


def test_a_username_with_html_is_escaped_in_the_page(alice):
    mallory = get_user_model().objects.create_user(username="<b>mallory</b>", password=PASSWORD)
    conversation = direct(alice, mallory)
    page = logged_in(alice).get(f"/conversations/{conversation.pk}/").content.decode()
    assert "<b>mallory</b>" not in page
    assert "&lt;b&gt;mallory&lt;/b&gt;" in page


def test_the_devices_page_lists_only_the_users_devices(alice, bob):
    client = logged_in(alice, user_agent="Firefox/130")
    logged_in(alice, user_agent="Safari/17")
    logged_in(bob, user_agent="BobBrowser/1")
    page = client.get("/accounts/devices/").content.decode()
    assert "Firefox/130" in page and "Safari/17" in page and "BobBrowser/1" not in page
    assert page.count("This device") == 1


def test_revoking_another_device_keeps_this_session(alice):
    client = logged_in(alice)
    logged_in(alice)
    this, other = Device.objects.filter(user=alice).order_by("pk")
    response = client.post(f"/accounts/devices/{other.pk}/revoke/")
    assert response.status_code == 302 and response["Location"] == "/accounts/devices/"
    other.refresh_from_db()
    assert other.revoke_reason == Device.RevokeReason.USER
    assert client.get("/accounts/devices/").status_code == 200


def test_revoking_this_device_logs_out(alice):
    client = logged_in(alice)
    device = Device.objects.get(user=alice)
    client.post(f"/accounts/devices/{device.pk}/revoke/")
    assert client.get("/").status_code == 302


def test_nobody_revokes_someone_elses_device(alice, bob):
    logged_in(bob)
    bobs = Device.objects.get(user=bob)
    assert logged_in(alice).post(f"/accounts/devices/{bobs.pk}/revoke/").status_code == 404
    bobs.refresh_from_db()
    assert not bobs.is_revoked


def test_changing_the_password_logs_out_the_other_devices_only(alice):
    client = logged_in(alice)
    other_client = logged_in(alice)
    new_password = "a brand new passphrase 42"
    response = client.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password1": new_password, "new_password2": new_password},
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password(new_password)
    assert client.get("/").status_code == 200
    assert other_client.get("/").status_code == 302
    assert Device.objects.filter(user=alice, revoked_at__isnull=True).count() == 1


def test_a_wrong_current_password_changes_nothing(alice):
    response = logged_in(alice).post(
        "/accounts/password/", {"old_password": "nope", "new_password1": "x y z 123 q", "new_password2": "x y z 123 q"}
    )
    assert response.status_code == 200
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_pages_load_nothing_from_other_sites():
    """No CDN: every asset is served by the app, so the pages work offline."""
    for path in [*REPO.joinpath("templates").rglob("*.html"), *REPO.joinpath("static").rglob("*.*")]:
        text = path.read_text(encoding="utf-8")
        text = text.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I), path
