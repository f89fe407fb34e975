"""Redis Sentinel failover against real daphne processes (docs/operations.md, Running against Sentinel).

The test starts its own primary, replica and three Sentinels (tests/support/sentinel.py), two daphne
processes that follow the master through the Sentinels, SIGKILLs the primary and waits (bounded)
until every process has found the promoted replica. It prints the failover's figures (time from the
kill to the first message delivered across processes again; messages that missed their live push).
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request

import pytest
from websockets.exceptions import ConnectionClosed

from messaging.protocol import MessagingClientFrame, MessagingServerFrame
from tests.support.messaging import direct
from tests.support.operations import http_get, http_json, sample, scrape
from tests.support.realtime import authenticate, next_frame, open_socket, send_frame
from tests.support.sentinel import redis_server, sentinel_deployment
from tests.support.waiting import until

RECOVERY = 30.0  # seconds: the bound on each recovery step, generous for a loaded 2-core machine


def post_message(server, token: str, conversation, body: str) -> dict:
    """POST a message over REST to a daphne; return it (the answer must be 201)."""
    request = urllib.request.Request(
        f"{server.http_url}/api/conversations/{conversation.pk}/messages/",
        data=json.dumps({"body": body, "client_id": body}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
        return json.loads(response.read())


class Listener:
    """A client's socket that records every live `message.new` and reconnects (with its token) when closed."""

    def __init__(self, server, token: str) -> None:
        self.server, self.token = server, token
        self.live: list[int] = []
        self.reconnects = 0
        self._sockets = contextlib.ExitStack()  # every socket it opened, closed by `close`
        self.ws = self._open()

    def _open(self):
        ws = self._sockets.enter_context(open_socket(self.server))
        authenticate(ws, self.token)
        return ws

    def close(self) -> None:
        """Close its sockets."""
        self._sockets.close()

    def wait_for(self, message_id: int, *, timeout: float) -> bool:
        """Return whether the message arrives live within `timeout`, reconnecting a closed socket on the way."""
        deadline = time.monotonic() + timeout
        while message_id not in self.live and (remaining := deadline - time.monotonic()) > 0:
            try:
                if self.ws is None:
                    self.ws = self._open()
                    self.reconnects += 1
                frame = next_frame(self.ws, MessagingServerFrame.MESSAGE_NEW, timeout=remaining)
                self.live.append(frame["data"]["message"]["id"])
            except (ConnectionClosed, OSError):  # closed (4503) or refused while Redis is away: retry
                self.ws = None
                time.sleep(0.2)
            except AssertionError:  # nothing within the time left, or authentication refused
                if self.ws is not None and self.ws.close_code is not None:
                    self.ws = None
                time.sleep(0.05)
        return message_id in self.live


def synced_ids(server, token: str, *, after: int) -> list[int]:
    """Open a fresh socket, `sync` after a message id, and return the ids of every `message.new` in order."""
    with open_socket(server) as ws:
        authenticate(ws, token)
        ids, more = [], True
        while more:
            send_frame(ws, MessagingClientFrame.SYNC, {"after": after})
            while (frame := next_frame(ws))["type"] != MessagingServerFrame.SYNC_DONE:
                if frame["type"] == MessagingServerFrame.MESSAGE_NEW:
                    ids.append(frame["data"]["message"]["id"])
            after, more = frame["data"]["last_id"], frame["data"]["more"]
    return ids


def ready(server) -> bool:
    """Return whether /readyz answers 200 (an answer slower than the HTTP bound counts as not ready)."""
    try:
        return http_get(server, "/readyz")[0] == 200
    except TimeoutError:
        return False


def test_after_the_primary_is_killed_every_process_follows_the_promoted_replica_and_nothing_is_lost(
    redis_url, daphne_server, alice, bob, login, tmp_path
):
    if redis_server() is None:
        pytest.fail("the services run needs redis-server on PATH for the Sentinel test")
    conversation = direct(alice, bob)
    alice_token, bob_token = login(alice).token, login(bob).token
    with sentinel_deployment(tmp_path / "redis") as deployment:
        def alice_status() -> str:
            headers = {"Authorization": f"Bearer {bob_token}"}
            return http_json(two, f"/api/presence/?user={alice.pk}", headers=headers)[1][0]["status"]

        one, two = (daphne_server(**deployment.dedwen_env()) for _ in range(2))
        until(lambda: ready(one) and ready(two), timeout=RECOVERY, what="both processes ready")
        alice_socket = Listener(one, alice_token)
        before = post_message(two, bob_token, conversation, "before")
        assert alice_socket.wait_for(before["id"], timeout=RECOVERY), "no cross-process delivery before the kill"

        deployment.kill_primary()
        killed = time.monotonic()
        stored = [post_message(two, bob_token, conversation, "during")["id"]]  # REST keeps storing
        until(lambda: not ready(one), timeout=RECOVERY, step=0.02, what="/readyz failing in the gap")

        first_live = None
        while first_live is None:  # one probe a second, each stored, until one arrives live across processes
            assert time.monotonic() - killed < 2 * RECOVERY, "delivery across processes never came back"
            probe = post_message(two, bob_token, conversation, f"probe-{len(stored)}")["id"]
            stored.append(probe)
            if alice_socket.wait_for(probe, timeout=1.0):
                first_live = time.monotonic() - killed

        assert deployment.wait_for_promotion(timeout=RECOVERY) == ("127.0.0.1", deployment.replica)
        until(lambda: ready(one) and ready(two), timeout=RECOVERY, what="/readyz healthy after the failover")
        for server in (one, two):
            until(
                lambda: sample(scrape(server), "dedwen_redis_failovers_total") == 1,
                timeout=RECOVERY,
                what="the failover counted",
            )
        until(lambda: alice_status() == "online", timeout=RECOVERY, what="alice online in the rebuilt presence")

        # alice's client: live pushes, then a sync on a new socket (which authenticates) for what it missed
        synced = synced_ids(two, alice_token, after=before["id"])
        assert len(synced) == len(set(synced)) and len(alice_socket.live) == len(set(alice_socket.live))
        assert set(stored) <= set(alice_socket.live) | set(synced), "a message stored during the failover was lost"
        alice_socket.close()  # her last socket: no ghost stays online after the failover
        until(lambda: alice_status() == "offline", timeout=RECOVERY, what="alice offline once her sockets are gone")
        missed_live = [message_id for message_id in stored if message_id not in alice_socket.live]
        print(
            f"\nsentinel failover: first cross-process delivery {first_live:.2f} s after SIGKILL; "
            f"{len(stored)} messages stored during the failover, {len(missed_live)} without a live push "
            f"(all recovered by sync), 0 lost; alice's socket reconnected {alice_socket.reconnects}x"
        )
