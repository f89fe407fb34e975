"""Strict JSON (RFC 8259) for everything clients send: WebSocket frames and REST bodies alike.

Python's json accepts NaN/Infinity, raises RecursionError on deep nesting, and lets escaped lone
surrogates through (which then fail when the text is encoded again); this module refuses all three.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

MAX_DEPTH = 32

# A JSON string literal (unrolled loop: linear, no backtracking), and the brackets outside them.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class StrictJSONError(ValueError):
    """The text is not strict JSON, or nests deeper than MAX_DEPTH."""


def _refuse_constant(name: str) -> Any:
    raise StrictJSONError(f"{name} is not JSON")


def nesting_depth(text: str) -> int:
    """Return how deeply arrays and objects nest in JSON text, without recursing."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return 0  # cannot be deeper than the limit: skip the scan
    brackets = _BRACKETS.findall(_STRING.sub("", text))
    return max(accumulate((1 if b in "[{" else -1 for b in brackets), initial=0))


def _has_lone_surrogate(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def loads(text: str) -> Any:
    """Parse JSON text strictly, or raise StrictJSONError."""
    if nesting_depth(text) > MAX_DEPTH:
        raise StrictJSONError(f"nesting deeper than {MAX_DEPTH} levels")
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except StrictJSONError:
        raise
    except (ValueError, RecursionError):  # JSONDecodeError, and ints over the int/str digit limit
        raise StrictJSONError("not valid JSON") from None
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value):
        raise StrictJSONError("a string holds an unpaired surrogate")
    return value
