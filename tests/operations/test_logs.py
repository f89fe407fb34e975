"""DEDWEN_LOG_FORMAT: text lines or one JSON object per line, tokens redacted in both."""

from __future__ import annotations

import io
import json
import logging
import logging.config

import pytest

from tests.support.realtime import authenticate, closed_with, send_frame

FAKE_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
CONTRACT_LINES = (
    "[WebSocket] Connection established, awaiting JWT authentication...",
    "[WebSocket] User {user_id} authenticated and connected",
)


def handler_from_settings(settings, formatter: str) -> logging.Handler:
    """Build the console handler exactly as the settings describe it, writing into a buffer."""
    config = json.loads(json.dumps(settings.LOGGING))
    config["handlers"]["console"]["formatter"] = formatter
    config["handlers"]["console"]["stream"] = io.StringIO()
    config["root"]["handlers"] = []
    config["loggers"] = {"dedwen.test.format": {"handlers": ["console"], "level": "INFO", "propagate": False}}
    logging.config.dictConfig(config)
    return logging.getLogger("dedwen.test.format").handlers[0]


@pytest.mark.parametrize("formatter", ["plain", "json"])
def test_a_token_in_a_message_an_extra_or_a_traceback_is_redacted(settings, formatter):
    handler = handler_from_settings(settings, formatter)
    logger = logging.getLogger("dedwen.test.format")
    try:
        logger.info("refused %s", FAKE_TOKEN, extra={"detail": f"token={FAKE_TOKEN}"})
        try:
            raise ValueError(FAKE_TOKEN)
        except ValueError:
            logger.exception("failed")
    finally:
        written = handler.stream.getvalue()
        logging.config.dictConfig(settings.LOGGING)
    assert written.count("[redacted-token]") >= 2
    if formatter == "json":
        records = [json.loads(line) for line in written.splitlines()]
        assert records[0]["message"] == "refused [redacted-token]"
        assert records[0]["detail"] == "token=[redacted-token]"
        assert records[0]["level"] == "INFO" and records[0]["logger"] == "dedwen.test.format"
        assert FAKE_TOKEN not in records[1]["exc_info"]
    assert FAKE_TOKEN.split(".")[0] not in written


def test_a_json_server_writes_one_object_per_line_with_the_contract_lines_as_messages(socket_opener, daphne_server, alice, device_of):
    server = daphne_server(DEDWEN_LOG_FORMAT="json")
    ws = socket_opener(server)
    authenticate(ws, device_of(alice).token)
    refused = socket_opener(server)
    send_frame(refused, "authenticate", {"token": FAKE_TOKEN})
    closed_with(refused)
    server.wait_for_log("authenticated and connected")
    server.wait_for_log("token refused")
    server.stop()
    records = [json.loads(line) for line in server.log().splitlines() if line.strip()]
    messages = [record["message"] for record in records]
    assert CONTRACT_LINES[0] in messages
    assert CONTRACT_LINES[1].format(user_id=alice.pk) in messages
    assert FAKE_TOKEN.split(".")[0] not in server.log()


def test_an_unknown_log_format_stops_start_up(monkeypatch):
    import importlib

    from django.core.exceptions import ImproperlyConfigured

    import dedwen.settings

    monkeypatch.setenv("DEDWEN_LOG_FORMAT", "xml")
    with pytest.raises(ImproperlyConfigured, match="DEDWEN_LOG_FORMAT"):
        importlib.reload(dedwen.settings)
    monkeypatch.delenv("DEDWEN_LOG_FORMAT")
    importlib.reload(dedwen.settings)
