"""Time strict JSON parsing and log redaction per KiB on the worst inputs found, from 1 KiB to 1 MiB.

usage: python -m bench.parse [--max-kib 1024] [--out bench/results/parse.md]   (or: bin/bench parse)

Each shape is a hostile input a client can send (a frame before authentication, a REST body, a
logged value). The figure that matters is flatness: the time per KiB at the largest size divided by
the time per KiB at 1 KiB (goal: at most 2). A quadratic path shows up as a ratio near the size ratio.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dedwen.logging import redact
from realtime import strictjson

GOAL = 2.0


def _repeat_to(size: int, head: str, unit: str, tail: str = "") -> str:
    """Return head + unit * k + tail, with k chosen so that the text is about `size` characters."""
    return head + unit * max(1, (size - len(head) - len(tail)) // len(unit)) + tail


def _array_of(size: int, item: str) -> str:
    return _repeat_to(size, "[" + item, "," + item, "]")


@dataclass(frozen=True)
class Shape:
    """A family of inputs of any size and the function that reads them."""

    name: str
    make: Callable[[int], str]
    read: Callable[[str], object]


def _parse(text: str) -> object:
    try:
        return strictjson.loads(text)
    except strictjson.StrictJSONError:
        return None


_DEEP_32 = "[" * 31 + "]" * 31  # inside an outer array: exactly the deepest nesting accepted


def _deep_arrays_then_string(size: int) -> str:
    """Return up to 1,024 arrays (33 runs 32 deep, about 64 characters each), then a string to fill `size`."""
    head = "[" + ",".join([_DEEP_32] * min(33, size // 128)) + ',"'
    return _repeat_to(size, head, "a", '"]')


def _many_keys(size: int) -> str:
    return "{" + ",".join(f'"k{i:07d}":0' for i in range(max(1, (size - 2) // 14))) + "}"


def _json_shape(name: str, make: Callable[[int], str]) -> Shape:
    return Shape(name, make, _parse)


SHAPES = [
    _json_shape("escaped quotes, unclosed string, 33 deep", lambda n: _repeat_to(n, "[" * 33 + '"', '\\"')),
    _json_shape("escaped quotes, unclosed, lone backslash", lambda n: _repeat_to(n, "[" * 33 + '"', '\\"', "\\")),
    _json_shape("escaped quotes, closed string", lambda n: _repeat_to(n, '["', '\\"', '"]')),
    _json_shape("quotes and brackets, never closed", lambda n: _repeat_to(n, "[" * 33, '"[\\"')),
    _json_shape("brackets inside a string", lambda n: _repeat_to(n, '["', "[{", '"]')),
    _json_shape("open brackets only", lambda n: "[" * n),
    _json_shape("empty arrays (over 1,024 refused)", lambda n: _array_of(n, "[]")),
    _json_shape("up to 1,024 arrays 32 deep, then a string", _deep_arrays_then_string),
    _json_shape("nesting 33 deep at the end", lambda n: _array_of(n - 70, "1")[:-1] + "," + "[" * 32 + "]" * 32 + "]"),
    _json_shape("long plain string", lambda n: _repeat_to(n, '"', "a", '"')),
    _json_shape("surrogate pairs", lambda n: _repeat_to(n, '"', "\\ud83d\\ude00", '"')),
    _json_shape("lone surrogate at the end", lambda n: _repeat_to(n, '"', "\\ud83d\\ude00", '\\ud800"')),
    _json_shape("many keys", _many_keys),
    # Python refuses integers over 4,300 digits; each costs time quadratic in its digits, so the
    # cost per KiB of long integers is bounded by that limit. Two of 500 digits fit the smallest size.
    _json_shape("integers of 500 digits", lambda n: _array_of(n, "9" * 500)),
    _json_shape("many floats", lambda n: _array_of(n, "1.5e3")),
    Shape("redaction: eyJ repeated", lambda n: "eyJ" * (n // 3), redact),
    Shape("redaction: eyJ and dots", lambda n: "eyJab." * (n // 6), redact),
]


def per_kib(shape: Shape, size: int, *, budget: float = 0.2) -> float:
    """Return the best seconds per KiB of reading `shape` at `size` characters over a short budget."""
    text = shape.make(size)
    best = float("inf")
    deadline = time.perf_counter() + budget
    runs = 0
    while runs < 3 or (time.perf_counter() < deadline and runs < 200):
        start = time.perf_counter()
        shape.read(text)
        best = min(best, time.perf_counter() - start)
        runs += 1
    return best / (len(text) / 1024)


def sizes_up_to(max_kib: int) -> list[int]:
    """Return 1 KiB, 4 KiB, 16 KiB, ... up to max_kib KiB, in characters."""
    sizes, kib = [], 1
    while kib <= max_kib:
        sizes.append(kib * 1024)
        kib *= 4
    return sizes


def measure(max_kib: int) -> list[tuple[Shape, list[float]]]:
    """Return each shape with its seconds per KiB at every size."""
    return [(shape, [per_kib(shape, size) for size in sizes_up_to(max_kib)]) for shape in SHAPES]


def report(rows: list[tuple[Shape, list[float]]], max_kib: int) -> str:
    """Render the figures as a Markdown table: µs per KiB at each size, and the flatness ratio."""
    sizes = sizes_up_to(max_kib)
    head = " | ".join(f"{size // 1024} KiB" for size in sizes)
    lines = [
        f"Strict JSON and redaction, µs per KiB ({platform.python_implementation()} {platform.python_version()}, "
        f"{platform.machine()}); ratio = per KiB at {sizes[-1] // 1024} KiB / per KiB at 1 KiB (goal ≤ {GOAL:g}).",
        "",
        f"| shape | {head} | ratio |",
        "|---|" + "---|" * len(sizes) + "---|",
    ]
    for shape, figures in rows:
        ratio = figures[-1] / figures[0]
        cells = " | ".join(f"{figure * 1e6:.2f}" for figure in figures)
        lines.append(f"| {shape.name} | {cells} | {ratio:.2f} {'✅' if ratio <= GOAL else '❌'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-kib", type=int, default=1024)
    parser.add_argument("--out", type=Path, default=Path("bench/results/parse.md"))
    args = parser.parse_args()
    text = report(measure(args.max_kib), args.max_kib)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
