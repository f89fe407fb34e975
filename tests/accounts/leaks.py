"""Find secrets in log records: the cast's password, anything shaped like a JWT, or named values."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from tests.support.cast import PASSWORD

JWT_SHAPED = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}")


def record_text(record: logging.LogRecord) -> str:
    """Return everything a handler could write for a record: message, arguments, traceback."""
    parts = [record.getMessage(), repr(record.args), record.exc_text or "", str(getattr(record, "request", ""))]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(parts)


def assert_no_secrets(records: Iterable[logging.LogRecord], *secrets: str) -> None:
    """Fail if a record holds PASSWORD, a JWT, or one of the given secrets."""
    for record in records:
        text = record_text(record)
        leaked = [s for s in (PASSWORD, *secrets) if s and s in text]
        assert not leaked and not JWT_SHAPED.search(text), f"{record.name} logged a secret: {text[:300]!r}"
