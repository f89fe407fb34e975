"""Presence end to end: real `websockets` clients against daphne processes."""

from __future__ import annotations

import json
import urllib.request

import pytest

from messaging.protocol import MessagingClientFrame, MessagingServerFrame
from presence.models import LastSeen
from presence.protocol import PresenceClientFrame, PresenceServerFrame
from presence.selectors import Status
from realtime.protocol import ClientFrame, ServerFrame
from tests.support.presence import connect, presence_events_until_pong, require_redis
from tests.support.realtime import next_frame, open_socket, send_frame

GHOST_WAIT = 15.0  # seconds: far above a 1 s TTL plus its sweep interval, far below the default TTL


def next_event(ws, *frame_types: str, timeout: float = 5.0) -> dict:
    """Return the next frame of one of the types (others skipped), within `timeout`."""
    while True:
        frame = next_frame(ws, timeout=timeout)
        if frame["type"] in {str(frame_type) for frame_type in frame_types}:
            return frame


def test_watchers_see_the_first_socket_come_online_and_the_last_go_offline(
    daphne_server, alice, bob, carol, alice_bob, login
):
    server = daphne_server()
    alice_session = login(alice)
    with open_socket(server) as bob_ws, open_socket(server) as carol_ws:
        assert connect(bob_ws, login(bob)) == [{"user_id": alice.pk, "status": Status.OFFLINE, "last_seen": None}]
        assert connect(carol_ws, login(carol)) == []  # carol shares no conversation with anyone

        with open_socket(server) as first:
            assert connect(first, alice_session) == [{"user_id": bob.pk, "status": Status.ONLINE, "last_seen": None}]
            online = next_frame(bob_ws, PresenceServerFrame.PRESENCE)
            assert online["data"] == {"user_id": alice.pk, "status": Status.ONLINE, "last_seen": None}

            with open_socket(server) as second:  # a second tab: no event either way
                connect(second, alice_session)
                server.wait_for_log(f"User {alice.pk} authenticated and connected", count=2)
            server.wait_for_log(f"Connection closed for user {alice.pk}")
            send_frame(first, MessagingClientFrame.MESSAGE_SEND, {"conversation_id": alice_bob.pk, "body": "hi", "client_id": "p1"})
            assert next_event(bob_ws, PresenceServerFrame.PRESENCE, MessagingServerFrame.MESSAGE_NEW)["type"] == MessagingServerFrame.MESSAGE_NEW

        offline = next_frame(bob_ws, PresenceServerFrame.PRESENCE)["data"]
        assert (offline["user_id"], offline["status"]) == (alice.pk, Status.OFFLINE)
        assert offline["last_seen"] is not None

        send_frame(carol_ws, ClientFrame.PING, {}, "barrier")
        assert next_event(carol_ws, PresenceServerFrame.PRESENCE, ServerFrame.PONG)["type"] == ServerFrame.PONG

    assert LastSeen.objects.filter(user=alice).exists()


def test_the_snapshot_and_rest_show_who_is_online(daphne_server, alice, bob, carol, alice_bob, login):
    server = daphne_server()
    with open_socket(server) as alice_ws:
        connect(alice_ws, login(alice))
        server.wait_for_log(f"User {alice.pk} authenticated and connected")

        with open_socket(server) as bob_ws:
            [entry] = connect(bob_ws, login(bob))
            assert entry == {"user_id": alice.pk, "status": Status.ONLINE, "last_seen": None}

        # REST reads the live store of the server process: the test's own client cannot, so ask daphne.
        request = urllib.request.Request(
            f"{server.http_url}/api/presence/?user={alice.pk}", headers={"Authorization": f"Bearer {login(carol).token}"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.loads(response.read()) == []  # carol may not see alice


def test_a_clean_stop_records_last_seen_at_once(daphne_server, alice, bob, alice_bob, login):
    server = daphne_server()
    with open_socket(server) as alice_ws:
        connect(alice_ws, login(alice))
        server.wait_for_log(f"User {alice.pk} authenticated and connected")
        server.stop()  # SIGTERM: daphne cancels its consumers without a disconnect

    assert LastSeen.objects.filter(user=alice).exists()


@pytest.fixture
def redis_required():
    require_redis()


def test_with_redis_presence_crosses_processes_and_a_killed_process_leaves_no_ghost(
    redis_required, daphne_server, alice, bob, alice_bob, login
):
    one, two = daphne_server(DEDWEN_PRESENCE_TTL="1"), daphne_server(DEDWEN_PRESENCE_TTL="1")
    alice_session = login(alice)
    with open_socket(two) as bob_ws, open_socket(one) as alice_ws:
        connect(bob_ws, login(bob))
        connect(alice_ws, alice_session)
        assert next_frame(bob_ws, PresenceServerFrame.PRESENCE)["data"]["status"] == Status.ONLINE

        with open_socket(two) as alice_again:  # her second socket, on the other process
            assert connect(alice_again, alice_session) == [{"user_id": bob.pk, "status": Status.ONLINE, "last_seen": None}]
        two.wait_for_log(f"Connection closed for user {alice.pk}")

        one.process.kill()  # SIGKILL: no cleanup; only its lease running out can end alice's presence
        offline = next_frame(bob_ws, PresenceServerFrame.PRESENCE, timeout=GHOST_WAIT)["data"]
        assert (offline["user_id"], offline["status"]) == (alice.pk, Status.OFFLINE)

    with open_socket(two) as bob_ws:
        assert connect(bob_ws, login(bob)) == [
            {"user_id": alice.pk, "status": Status.OFFLINE, "last_seen": offline["last_seen"]}
        ]


def test_with_redis_a_clean_stop_turns_its_users_offline_long_before_the_ttl(
    redis_required, daphne_server, alice, bob, alice_bob, login
):
    # The default 60 s TTL: only the clean stop can be this quick. A 1 s drain closes alice's socket soon.
    one, two = daphne_server(DEDWEN_DRAIN_SECONDS="1"), daphne_server()
    with open_socket(two) as bob_ws, open_socket(one) as alice_ws:
        connect(bob_ws, login(bob))
        connect(alice_ws, login(alice))
        assert next_frame(bob_ws, PresenceServerFrame.PRESENCE)["data"]["status"] == Status.ONLINE

        one.stop()  # SIGTERM

        offline = next_frame(bob_ws, PresenceServerFrame.PRESENCE, timeout=10)["data"]
        assert (offline["user_id"], offline["status"]) == (alice.pk, Status.OFFLINE)


def test_with_redis_a_reconnect_elsewhere_within_the_grace_announces_nothing_and_idle_is_the_best_of_every_process(
    redis_required, daphne_server, alice, bob, alice_bob, login
):
    one, two = daphne_server(DEDWEN_PRESENCE_GRACE="3"), daphne_server(DEDWEN_PRESENCE_GRACE="3")
    alice_session = login(alice)
    with open_socket(two) as bob_ws:
        connect(bob_ws, login(bob))
        seen = []
        with open_socket(one) as first:
            connect(first, alice_session)
            seen.append(next_event(bob_ws, PresenceServerFrame.PRESENCE)["data"]["status"])
        one.wait_for_log(f"Connection closed for user {alice.pk}")
        with open_socket(two) as elsewhere:  # a reload that lands on the other process, within the grace
            connect(elsewhere, alice_session)
            send_frame(elsewhere, PresenceClientFrame.ACTIVITY, {"state": "idle"})
            seen.append(next_event(bob_ws, PresenceServerFrame.PRESENCE)["data"]["status"])  # idle, not offline
            with open_socket(one) as active:
                connect(active, alice_session)
                seen.append(next_event(bob_ws, PresenceServerFrame.PRESENCE)["data"]["status"])
            seen.append(next_event(bob_ws, PresenceServerFrame.PRESENCE)["data"]["status"])  # only the idle one is left
        offline = next_event(bob_ws, PresenceServerFrame.PRESENCE, timeout=10)["data"]  # the grace (3 s) + 2 s, with room
        seen.append(offline["status"])

        assert seen == [Status.ONLINE, Status.IDLE, Status.ONLINE, Status.IDLE, Status.OFFLINE]
        assert offline["last_seen"] is not None
        assert presence_events_until_pong(bob_ws) == []  # one event per change, no more


def test_with_redis_a_clean_stop_follows_the_grace_and_a_user_back_on_another_process_is_not_announced(
    redis_required, daphne_server, alice, bob, carol, alice_bob, login
):
    from tests.support.messaging import direct

    direct(carol, bob)
    one = daphne_server(DEDWEN_PRESENCE_GRACE="3", DEDWEN_DRAIN_SECONDS="1")
    two = daphne_server(DEDWEN_PRESENCE_GRACE="3")
    with open_socket(two) as bob_ws, open_socket(one) as alice_ws, open_socket(one) as carol_ws:
        connect(bob_ws, login(bob))
        connect(alice_ws, login(alice))
        connect(carol_ws, login(carol))
        came = {next_event(bob_ws, PresenceServerFrame.PRESENCE)["data"]["user_id"] for _ in range(2)}
        assert came == {alice.pk, carol.pk}

        one.process.terminate()  # SIGTERM: its sockets go within the 1 s drain, its users keep their status for the grace
        with open_socket(two) as alice_back:  # alice reconnects elsewhere; carol does not
            connect(alice_back, login(alice))
            offline = next_event(bob_ws, PresenceServerFrame.PRESENCE, timeout=10)["data"]
            assert (offline["user_id"], offline["status"]) == (carol.pk, Status.OFFLINE)
            assert presence_events_until_pong(bob_ws) == []
