"""Keep secrets out of the logs: redact anything shaped like a JWT before a record is written."""

from __future__ import annotations

import logging
import re

from pythonjsonlogger.json import JsonFormatter

# A base64url run that starts like a JSON header ("eyJ" is `{"` encoded), with up to two more
# dot-separated segments: a JWT, or a fragment of one. Once "eyJ" and two more characters match, the
# rest is optional, so no attempt fails after a long scan: linear in the line however it is crafted.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{2,}(?:\.[A-Za-z0-9_-]*){0,2}")
_REDACTED = "[redacted-token]"


def redact(text: str) -> str:
    """Return the text with every JWT-shaped run replaced by a marker."""
    return _JWT.sub(_REDACTED, text)


class RedactSecretsFilter(logging.Filter):
    """Rewrite a record's message so that no token survives into any handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class RedactingJsonFormatter(JsonFormatter):
    """python-json-logger's formatter (one JSON object per line), redacting every string it writes.

    The filter already cleaned the message; this also covers what the filter cannot see: a
    traceback (`exc_info`), a stack and values passed in `extra`.
    """

    def jsonify_log_record(self, log_data) -> str:
        return redact(super().jsonify_log_record(log_data))


class RedactingFormatter(logging.Formatter):
    """The text formatter, redacting its whole output (a traceback too, which the filter cannot see)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
