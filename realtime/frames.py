"""Strict parsing of client frames: RFC 8259 JSON objects `{"type", "data"?, "ref"?}`, bounded in depth."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from realtime import strictjson

MAX_REF_LENGTH = 128


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


def parse_frame(text: str) -> Frame:
    """Parse a text frame strictly, or raise BadFrame."""
    try:
        content = strictjson.loads(text)
    except strictjson.StrictJSONError as exc:
        raise BadFrame(str(exc)) from None
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
