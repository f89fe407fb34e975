"""The web client honours `goaway` (4001) in a real browser: a real drain, and an operator's disconnect."""

from __future__ import annotations

import signal

import pytest
from django.contrib.auth.models import Permission

from realtime.protocol import CloseCode
from tests.support.browser import LOG_AUTHENTICATED, closed_log, off_loop
from tests.support.cast import make_user
from tests.support.messaging import direct, send
from tests.support.operations import AdminSession, listed_connection_ids

pytestmark = pytest.mark.browser


def message_texts(person) -> list[str]:
    return person.page.locator("#messages .message .body").all_text_contents()


def attempts(person) -> int:
    """The client's failure count for its backoff."""
    return person.page.evaluate("() => window.dedwen.client.attempt")


def test_a_draining_server_moves_the_page_to_reconnecting_without_a_failure_and_it_syncs_on_the_next_server(web, alice, bob):
    conversation = off_loop(direct, alice, bob)
    server = web.server(DEDWEN_DRAIN_SECONDS="1")
    a = web.log_in(server, alice)
    a.open(f"/conversations/{conversation.pk}/")

    server.process.send_signal(signal.SIGTERM)
    a.wait_for_log(closed_log(CloseCode.GOING_AWAY))
    assert a.state() == "reconnecting"
    assert attempts(a) == 0  # the 4001 after goaway is no failure
    server.process.wait(timeout=15)  # drained and gone
    off_loop(send, bob, conversation, "sent while the server restarted")
    server.stop()
    web.start_on_port(server.port)
    a.wait_for_log(LOG_AUTHENTICATED, count=2, timeout=45)
    a.wait_for_state("connected")
    a.wait_until(lambda: "sent while the server restarted" in message_texts(a), what="the synced message")
    assert message_texts(a).count("sent while the server restarted") == 1
    assert "offline" not in a.page.evaluate("() => document.getElementById('connection-state').dataset.state")
    assert a.page_errors == []


def test_an_operator_disconnect_reconnects_the_page_after_the_goaway_delay_and_it_syncs(web, alice, bob):
    operator = make_user("operator", is_staff=True)
    operator.user_permissions.add(Permission.objects.get(codename="view_device", content_type__app_label="accounts"))
    conversation = off_loop(direct, alice, bob)
    server = web.server()
    a = web.log_in(server, alice)
    a.open(f"/conversations/{conversation.pk}/")
    states: list[str] = []
    a.page.expose_function("recordState", lambda state: states.append(state))
    a.page.evaluate("() => window.dedwen.client.addEventListener('state', (e) => window.recordState(e.detail.state))")

    admin = AdminSession(server, "operator")
    ids = listed_connection_ids(admin.get("/admin/live-connections/?user=alice")[1])
    assert len(ids) == 1
    admin.post("/admin/live-connections/", {"action": "disconnect", "_selected_action": ids})
    a.wait_for_log(closed_log(CloseCode.GOING_AWAY))
    off_loop(send, bob, conversation, "sent during the reconnect")
    a.wait_for_log(LOG_AUTHENTICATED, count=3)  # the login page's, the conversation's, the reconnect's
    a.wait_for_state("connected")
    a.wait_until(lambda: "sent during the reconnect" in message_texts(a), what="the synced message")
    assert states[0] == "reconnecting"
    assert "offline" not in states
    assert attempts(a) == 0
    assert message_texts(a).count("sent during the reconnect") == 1
