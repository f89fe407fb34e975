"""/healthz, /readyz and /metrics against a real daphne (docs/protocol.md §5)."""

from __future__ import annotations

import pytest

from operations.endpoints import metrics_allowed
from realtime.protocol import ClientFrame, CloseCode
from tests.support.operations import http_get, http_json, sample, scrape
from tests.support.realtime import (
    authenticate,
    closed_with,
    next_frame,
    send_frame,
)

METRICS_TOKEN = "s3cret-metrics-token-for-tests"


def test_healthz_answers_ok_and_readyz_names_each_backend_it_reached(daphne_server):
    server = daphne_server()
    assert http_json(server, "/healthz") == (200, {"status": "ok"})
    assert http_json(server, "/readyz") == (
        200,
        {"status": "ready", "checks": {"channel_layer": "ok", "database": "ok", "presence": "ok"}},
    )


def test_readyz_names_the_database_when_it_is_unreachable(daphne_server):
    server = daphne_server(DATABASE_URL="postgres://nobody@127.0.0.1:1/nothing")
    status, body = http_json(server, "/readyz")
    assert status == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] != "ok"
    assert body["checks"]["channel_layer"] == "ok"
    assert http_json(server, "/healthz") == (200, {"status": "ok"})  # liveness checks no backend


def test_readyz_names_the_channel_layer_and_presence_when_redis_is_unreachable(daphne_server):
    server = daphne_server(REDIS_URL="redis://127.0.0.1:1/0")
    status, body = http_json(server, "/readyz")
    assert status == 503
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["channel_layer"] != "ok"
    assert body["checks"]["presence"] != "ok"


def test_metrics_carry_every_contract_family_with_its_labels(socket_opener, daphne_server, alice, device_of):
    server = daphne_server()
    before = scrape(server)
    ws = socket_opener(server)
    authenticate(ws, device_of(alice).token)
    send_frame(ws, ClientFrame.PING, {})
    send_frame(ws, "no.such.type", {})
    next_frame(ws, "error")
    during = scrape(server)
    ws.close()
    refused = socket_opener(server)
    send_frame(refused, ClientFrame.AUTHENTICATE, {"token": "not-a-token"})
    assert closed_with(refused) == CloseCode.UNAUTHORIZED
    after = scrape(server)

    assert sample(during, "dedwen_ws_connections", state="authenticated") == 1
    assert sample(during, "dedwen_ws_connections", state="pending") == 0
    assert sample(after, "dedwen_ws_connects_total") - sample(before, "dedwen_ws_connects_total") == 2
    assert sample(after, "dedwen_ws_closes_total", code="4401") == 1
    assert sample(after, "dedwen_ws_auth_seconds_count") == 1
    assert sample(after, "dedwen_ws_frames_total", direction="in", type="ping") == 1
    assert sample(after, "dedwen_ws_frames_total", direction="in", type="invalid") == 1
    assert sample(after, "dedwen_ws_frames_total", direction="out", type="pong") == 1
    assert sample(after, "dedwen_ws_frames_total", direction="out", type="authenticated") == 1
    for family, kind in {
        "dedwen_ws_connections": "gauge",
        "dedwen_ws_connects": "counter",
        "dedwen_ws_closes": "counter",
        "dedwen_ws_auth_seconds": "histogram",
        "dedwen_ws_frames": "counter",
        "dedwen_messages_sent": "counter",
        "dedwen_message_send_seconds": "histogram",
        "dedwen_revocation_close_seconds": "histogram",
        "dedwen_presence_transitions": "counter",
        "process_resident_memory_bytes": "gauge",
    }.items():
        assert after[family].type == kind, family


def test_metrics_refuse_a_proxied_or_wrong_token_client_and_accept_the_token(daphne_server):
    server = daphne_server(DEDWEN_METRICS_TOKEN=METRICS_TOKEN)
    assert http_get(server, "/metrics")[0] == 200  # loopback
    assert http_get(server, "/metrics", headers={"X-Forwarded-For": "203.0.113.9"})[0] == 403
    wrong = {"X-Forwarded-For": "203.0.113.9", "Authorization": "Bearer wrong"}
    assert http_get(server, "/metrics", headers=wrong)[0] == 403
    right = {"X-Forwarded-For": "203.0.113.9", "Authorization": f"Bearer {METRICS_TOKEN}"}
    status, body = http_get(server, "/metrics", headers=right)
    assert status == 200 and b"dedwen_ws_connects_total" in body


@pytest.mark.parametrize(
    ("client", "headers", "token", "allowed"),
    [
        (("127.0.0.1", 5000), [], None, True),
        (("::1", 5000), [], None, True),
        (("10.0.0.5", 5000), [], None, False),
        (("10.0.0.5", 5000), [(b"authorization", b"Bearer t0ken")], "t0ken", True),
        (("10.0.0.5", 5000), [(b"authorization", b"Bearer t0ken")], None, False),
        (("10.0.0.5", 5000), [(b"authorization", b"Basic t0ken")], "t0ken", False),
    ],
    ids=["loopback v4", "loopback v6", "remote", "remote with token", "token unset", "not bearer"],
)
def test_metrics_are_answered_to_loopback_or_the_bearer_token(settings, client, headers, token, allowed):
    settings.DEDWEN_METRICS_TOKEN = token
    assert metrics_allowed({"type": "http", "client": client, "headers": headers}) is allowed
