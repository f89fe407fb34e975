"""Keep secrets out of the logs: redact anything shaped like a JWT before a record is written."""

from __future__ import annotations

import logging
import re

# Three base64url segments, the first a JSON header ("eyJ" is `{"` encoded); also bare JWT-ish runs.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*")
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
