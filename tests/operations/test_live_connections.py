"""The admin's live connections against real daphne processes (docs/protocol.md §5)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from realtime.protocol import CloseCode, GoawayReason, ServerFrame
from tests.support.cast import make_user
from tests.support.operations import AdminSession, listed_connection_ids
from tests.support.realtime import authenticate, closed_with, next_frame
from tests.support.services import require_redis

PAGE = "/admin/live-connections/"


@pytest.fixture
def operator(db):
    """A staff user with the device view permission."""
    user = make_user("operator", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_device", content_type__app_label="accounts"))
    return user


def test_the_page_lists_each_authenticated_socket_and_disconnect_sends_goaway_then_4001(
    socket_opener, daphne_server, operator, alice, bob, device_of
):
    server = daphne_server()
    alice_ws = socket_opener(server, user_agent_header="alice-browser/1.0")
    alice_id = authenticate(alice_ws, device_of(alice).token)["data"]["connection_id"]
    bob_ws = socket_opener(server)
    bob_id = authenticate(bob_ws, device_of(bob).token)["data"]["connection_id"]
    admin = AdminSession(server, "operator")

    status, page = admin.get(PAGE)
    assert status == 200
    assert sorted(listed_connection_ids(page)) == sorted([alice_id, bob_id])
    assert "alice-browser/1.0" in page and "127.0.0.1" in page
    status, filtered = admin.get(PAGE + "?user=alice")
    assert listed_connection_ids(filtered) == [alice_id]

    assert admin.post(PAGE, {"action": "disconnect", "_selected_action": [alice_id]}) == 302
    goaway = next_frame(alice_ws, ServerFrame.GOAWAY, timeout=1.5)
    assert goaway["data"]["reason"] == GoawayReason.DISCONNECTED
    assert isinstance(goaway["data"]["reconnect_after_ms"], int)
    assert closed_with(alice_ws) == CloseCode.GOING_AWAY
    status, page = admin.get(PAGE)
    assert listed_connection_ids(page) == [bob_id]  # bob's socket is untouched


def test_staff_without_the_device_view_permission_see_nothing(socket_opener, daphne_server, alice, device_of, db):
    make_user("helper", is_staff=True)
    server = daphne_server()
    ws = socket_opener(server)
    connection_id = authenticate(ws, device_of(alice).token)["data"]["connection_id"]
    helper = AdminSession(server, "helper")
    status, page = helper.get(PAGE)
    assert status == 403 and connection_id not in page
    assert helper.post(PAGE, {"action": "disconnect", "_selected_action": [connection_id]}) == 403
    ws.ping().wait(2)  # still open


def test_a_socket_on_another_process_is_listed_and_disconnected(socket_opener, daphne_server, operator, alice, device_of):
    require_redis()
    admin_side, socket_side = daphne_server(), daphne_server()
    ws = socket_opener(socket_side)
    connection_id = authenticate(ws, device_of(alice).token)["data"]["connection_id"]
    admin = AdminSession(admin_side, "operator")
    status, page = admin.get(PAGE)
    assert connection_id in listed_connection_ids(page)
    assert f"{socket_side.process.pid}" in page  # the process column names the other process
    admin.post(PAGE, {"action": "disconnect", "_selected_action": [connection_id]})
    assert next_frame(ws, ServerFrame.GOAWAY, timeout=1.5)["data"]["reason"] == GoawayReason.DISCONNECTED
    assert closed_with(ws) == CloseCode.GOING_AWAY
