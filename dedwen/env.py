"""Strict readers for the environment: a bad value stops start-up with a message that names it."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def _fail(name: str, value: str, expected: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"{name}={value!r} is not valid: expected {expected}")


def env_str(name: str, default: str | None = None) -> str | None:
    """Return the variable as a string, or the default when unset or blank."""
    value = _raw(name)
    return default if value is None else value


def env_bool(name: str, default: bool) -> bool:
    """Return the variable as a boolean (1/0, true/false, yes/no, on/off)."""
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise _fail(name, value, "one of 1/0, true/false, yes/no, on/off")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return the variable as an integer within [minimum, maximum]."""
    value = _raw(name)
    if value is None:
        return default
    if not re.fullmatch(r"[+-]?\d{1,18}", value):
        raise _fail(name, value, "an integer")
    number = int(value)
    if minimum is not None and number < minimum:
        raise _fail(name, value, f"an integer >= {minimum}")
    if maximum is not None and number > maximum:
        raise _fail(name, value, f"an integer <= {maximum}")
    return number


def env_float(name: str, default: float, *, minimum: float = 0.0) -> float:
    """Return the variable as a finite number of at least minimum."""
    value = _raw(name)
    if value is None:
        return default
    if not re.fullmatch(r"\d{1,9}(\.\d{1,9})?", value):
        raise _fail(name, value, "a positive decimal number")
    number = float(value)
    if number < minimum:
        raise _fail(name, value, f"a number >= {minimum}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    """Return the variable as a comma-separated list of non-empty items."""
    value = _raw(name)
    if value is None:
        return list(default)
    items = [item.strip() for item in value.split(",")]
    if not all(items):
        raise _fail(name, value, "a comma-separated list without empty items")
    return items


def env_hostports(name: str) -> list[tuple[str, int]]:
    """Return the variable as a comma-separated list of HOST:PORT pairs; an empty list when unset."""
    value = _raw(name)
    if value is None:
        return []
    pairs = []
    for item in value.split(","):
        match = re.fullmatch(r"\s*([A-Za-z0-9._-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]):(\d{1,5})\s*", item)
        if match is None or not 0 < int(match.group(2)) < 65536:
            raise _fail(name, value, "comma-separated HOST:PORT pairs, e.g. 10.0.0.1:26379,10.0.0.2:26379")
        pairs.append((match.group(1).strip("[]"), int(match.group(2))))
    return pairs


def env_drf_rate(name: str, default: str) -> str:
    """Return the variable as a Django REST framework throttle rate: NUMBER/PERIOD, PERIOD one of s, m, h, d."""
    value = _raw(name) or default
    if not re.fullmatch(r"[1-9]\d{0,8}/(s|sec|second|m|min|minute|h|hour|d|day)", value):
        raise _fail(name, value, "NUMBER/PERIOD with PERIOD one of second, minute, hour, day, e.g. 120/min")
    return value


@dataclass(frozen=True)
class Rate:
    """A token-bucket budget: up to `burst` frames at once, refilled at `per_second`."""

    burst: int
    per_second: float


def env_rate(name: str, default: str) -> Rate:
    """Return the variable as a BURST/PER_SECOND token-bucket rate."""
    value = _raw(name) or default
    match = re.fullmatch(r"(\d{1,9})/(\d{1,9}(?:\.\d{1,9})?)", value)
    if not match or int(match[1]) < 1 or float(match[2]) <= 0:
        raise _fail(name, value, "BURST/PER_SECOND with BURST >= 1 and PER_SECOND > 0, e.g. 60/30")
    return Rate(burst=int(match[1]), per_second=float(match[2]))
