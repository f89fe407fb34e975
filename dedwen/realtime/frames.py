"""Strict parsing of client frames: RFC 8259 JSON objects `{"type", "data"?, "ref"?}`, bounded in depth."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

MAX_DEPTH = 32
MAX_REF_LENGTH = 128

# A JSON string literal (unrolled loop: linear, no backtracking), and the brackets outside them.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


class BadFrame(ValueError):
    """The frame is not a strict JSON object of the expected shape; `ref` is its ref when readable."""

    def __init__(self, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.ref = ref


@dataclass(frozen=True)
class Frame:
    """A parsed client frame; `type` is still the client's string, unchecked against the protocol."""

    type: str
    data: dict[str, Any] | None
    ref: str | None


def _refuse_constant(name: str) -> Any:
    raise BadFrame(f"{name} is not JSON")


def nesting_depth(text: str) -> int:
    """Return how deeply arrays and objects nest in JSON text, without recursing."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return 0  # cannot be deeper than the limit: skip the scan
    brackets = _BRACKETS.findall(_STRING.sub("", text))
    return max(accumulate((1 if b in "[{" else -1 for b in brackets), initial=0))


def parse_frame(text: str) -> Frame:
    """Parse a text frame strictly, or raise BadFrame."""
    if nesting_depth(text) > MAX_DEPTH:
        raise BadFrame(f"nesting deeper than {MAX_DEPTH} levels")
    try:
        content = json.loads(text, parse_constant=_refuse_constant)
    except BadFrame:
        raise
    except (ValueError, RecursionError):  # JSONDecodeError, and ints over the int/str digit limit
        raise BadFrame("not valid JSON") from None
    if not isinstance(content, dict):
        raise BadFrame("a frame must be a JSON object")
    ref = content.get("ref")
    if ref is not None and not _valid_ref(ref):
        raise BadFrame(f"`ref` must be a printable string of at most {MAX_REF_LENGTH} characters")
    frame_type, data = content.get("type"), content.get("data")
    if not isinstance(frame_type, str) or not frame_type:
        raise BadFrame("`type` must be a non-empty string", ref)
    if data is not None and not isinstance(data, dict):
        raise BadFrame("`data` must be an object", ref)
    return Frame(type=frame_type, data=data, ref=ref)


def _valid_ref(ref: object) -> bool:
    return isinstance(ref, str) and 0 < len(ref) <= MAX_REF_LENGTH and ref.isprintable()
