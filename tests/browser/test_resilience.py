"""The real-time client in a real browser when things go wrong: restarts, revocation, bad tokens, no server."""

from __future__ import annotations

import mimetypes

import pytest

from accounts.models import Device
from tests.support.browser import LOG_AUTHENTICATED, closed_log, off_loop
from tests.support.messaging import direct, send
from tests.support.server import REPO

pytestmark = pytest.mark.browser

RECONNECT_TIMEOUT = 45.0  # the backoff is capped at 30 s; a restart costs a few more


def message_texts(person) -> list[str]:
    return person.page.locator("#messages .message .body").all_text_contents()


def test_after_a_server_crash_the_page_reconnects_and_recovers_what_it_missed_once(web, alice, bob):
    conversation = off_loop(direct, alice, bob)
    off_loop(send, bob, conversation, "before the crash")
    server = web.server()
    a = web.log_in(server, alice)
    a.open(f"/conversations/{conversation.pk}/")
    a.page.locator("#messages .message[data-id]").wait_for()

    server.process.kill()
    a.wait_until(lambda: a.state() in ("reconnecting", "offline"), what="the page noticing the crash")
    # Meanwhile bob's messages are stored, and alice writes one: it stays pending.
    off_loop(send, bob, conversation, "while you were away")
    off_loop(send, bob, conversation, "are you there?")
    a.page.get_by_label("Message", exact=True).fill("sent while offline")
    a.page.keyboard.press("Enter")
    a.page.locator("#messages .message.pending").wait_for()

    server.stop()
    web.start_on_port(server.port)
    a.wait_for_log(LOG_AUTHENTICATED, count=3, timeout=RECONNECT_TIMEOUT)
    a.wait_for_state("connected")
    a.page.locator("#messages .message.pending").wait_for(state="detached")
    a.wait_until(lambda: len(message_texts(a)) >= 4, what="the missed messages")

    assert message_texts(a) == ["before the crash", "while you were away", "are you there?", "sent while offline"]
    ids = [int(i) for i in a.page.eval_on_selector_all("#messages .message", "items => items.map(li => li.dataset.id)")]
    assert ids == sorted(set(ids))
    assert conversation.messages.filter(body="sent while offline").count() == 1
    assert a.page_errors == []


def test_revoking_the_device_in_the_admin_logs_the_page_out_without_reconnecting(web, alice, admin_user):
    server = web.server()
    a = web.log_in(server, alice)
    device = Device.objects.get(user=alice, revoked_at__isnull=True)
    admin = web.log_in(server, admin_user, password="password", wait=False)

    admin.page.goto(f"{server.http_url}/admin/accounts/device/?user__id__exact={alice.pk}")
    admin.page.locator(f"input[name='_selected_action'][value='{device.pk}']").check()
    admin.page.locator("select[name='action']").select_option("revoke")
    admin.page.get_by_role("button", name="Go").click()
    admin.page.get_by_text("Revoked 1 device(s).").wait_for()

    a.page.wait_for_url(f"{server.http_url}/accounts/login/**")
    assert a.logged(closed_log(4403)) == 1
    assert len(a.sockets) == 1  # never reopened
    assert a.stored_token() is None
    a.page.get_by_label("Username").wait_for()  # the session is over too: the login form, not the inbox


def test_the_page_refreshes_its_token_on_the_open_socket_before_it_expires(web, alice):
    # Long enough that the refresh margin (a fifth of the lifetime) absorbs a busy CI machine.
    server = web.server(DEDWEN_ACCESS_TOKEN_LIFETIME="8")
    a = web.log_in(server, alice)
    first = a.stored_token()

    a.wait_for_log(LOG_AUTHENTICATED, count=2, timeout=15)  # the login's, then a re-authentication

    assert len(a.sockets) == 1
    assert not [line for line in a.console if line.startswith("[Messaging] WebSocket closed")]
    assert a.stored_token() != first
    assert a.state() == "connected"


def test_a_tampered_token_costs_one_4401_and_one_refresh(web, alice):
    server = web.server()
    a = web.log_in(server, alice)
    token = a.stored_token()
    tampered = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    a.page.evaluate("token => localStorage.setItem('dedwen_auth_token', token)", tampered)
    sockets, token_requests = len(a.sockets), len(a.token_requests)

    a.page.reload()
    a.wait_for_log(LOG_AUTHENTICATED, count=2)
    a.wait_for_state("connected")

    assert a.logged(closed_log(4401)) == 1
    assert len(a.token_requests) - token_requests == 1
    assert len(a.sockets) - sockets == 2
    assert a.stored_token() not in (tampered, None)


def _static_file(url: str):
    path = REPO / "static" / url.split("/static/", 1)[1].split("?", 1)[0]
    content_type = "text/javascript" if path.suffix == ".js" else mimetypes.guess_type(path.name)[0]
    return path.read_bytes(), content_type or "application/octet-stream"


def test_a_page_whose_server_is_gone_says_so_and_connects_when_it_is_back(web, alice, bob):
    off_loop(lambda: send(bob, direct(bob, alice), "waiting for you"))
    server = web.server()
    a = web.log_in(server, alice)

    # The inbox's HTML arrives; the server is gone before its first script loads (scripts come from disk).
    def crash_then_serve_from_disk(route) -> None:
        server.process.kill()
        body, content_type = _static_file(route.request.url)
        route.fulfill(status=200, body=body, content_type=content_type)

    a.page.route("**/static/**", crash_then_serve_from_disk)
    a.page.goto(f"{server.http_url}/")

    a.page.get_by_text("Could not load your conversations").wait_for()
    a.wait_until(lambda: a.state() in ("reconnecting", "offline"), what="the page showing it is not connected")
    assert a.page_errors == []

    server.stop()
    web.start_on_port(server.port)
    a.wait_for_log(LOG_AUTHENTICATED, count=2, timeout=RECONNECT_TIMEOUT)
    a.page.locator("#conversation-list li", has_text="waiting for you").wait_for()
    a.wait_for_state("connected")
    assert a.page_errors == []
