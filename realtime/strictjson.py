"""Strict JSON (RFC 8259) for everything clients send: WebSocket frames and REST bodies alike.

Python's json accepts NaN, Infinity and numbers that overflow to infinity, raises RecursionError on
deep nesting, and lets escaped lone surrogates through (which then fail when the text is encoded
again); this module refuses all of them.

Every step costs time linear in the text, whatever its shape (docs/security.md; the worst shapes are
measured by `bench/parse.py`). Before the C parser builds anything, one pass over the text outside its
string literals bounds the structure: at most MAX_CONTAINERS arrays and objects, nested at most
MAX_DEPTH deep. Finding string literals in unvalidated text is where a quadratic path hides (a scan
that fails at an unclosed string and restarts at its next escaped quote): the pattern below cannot
fail, since an unclosed literal simply runs to the end of the text.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 32
MAX_CONTAINERS = 1024  # arrays and objects in one document: no frame or REST body needs more

# A string literal, closed or running to the end of the text. Possessive loops never give characters
# back, and the last alternative accepts a lone trailing backslash, so a match starts at every quote.
_STRING_LITERAL = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)', re.DOTALL)
# Outside string literals, valid JSON holds only brackets, `,:`, white space, numbers and
# true/false/null: deleting those (and writing braces as square brackets) leaves the bracket tree.
_BRACKETS_ONLY = str.maketrans("{}", "[]", ",: \t\r\n0123456789+-.eEtrufalsn")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class StrictJSONError(ValueError):
    """The text is not strict JSON, or holds more structure than the limits allow."""


def _refuse_constant(name: str) -> Any:
    raise StrictJSONError(f"{name} is not JSON")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise StrictJSONError("a number overflows to infinity")
    return value


def _check_structure(text: str) -> None:
    """Refuse text with too many arrays and objects, or nested too deep, before it is parsed."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return  # too few brackets to break either limit: skip the scan
    outside_strings = _STRING_LITERAL.sub("", text) if '"' in text else text
    structure = outside_strings.translate(_BRACKETS_ONLY)
    containers = structure.count("[")
    if containers > MAX_CONTAINERS:
        raise StrictJSONError(f"more than {MAX_CONTAINERS} arrays and objects")
    if len(structure) != 2 * containers or structure.count("]") != containers:
        return  # not valid JSON: the parser refuses it, and can build at most MAX_CONTAINERS on the way
    # Each pass removes the innermost pairs (the leaves of the bracket tree): whatever survives
    # MAX_DEPTH passes sat deeper than MAX_DEPTH. At most 2 * MAX_CONTAINERS characters here.
    for _ in range(MAX_DEPTH):
        structure = structure.replace("[]", "")
        if not structure:
            return
    raise StrictJSONError(f"nesting deeper than {MAX_DEPTH} levels")


def _has_lone_surrogate(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def loads(text: str) -> Any:
    """Parse JSON text strictly, or raise StrictJSONError."""
    _check_structure(text)
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except StrictJSONError:
        raise
    except RecursionError:  # invalid text nested beyond the C parser's own limit
        raise StrictJSONError(f"nesting deeper than {MAX_DEPTH} levels") from None
    except ValueError:  # JSONDecodeError, and ints over the int/str digit limit
        raise StrictJSONError("not valid JSON") from None
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value):
        raise StrictJSONError("a string holds an unpaired surrogate")
    return value
