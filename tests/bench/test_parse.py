"""The parse micro-benchmark builds each hostile shape at the size asked and runs it (no timing is asserted)."""

from __future__ import annotations

import pytest

from bench import parse


@pytest.mark.parametrize("shape", parse.SHAPES, ids=[shape.name for shape in parse.SHAPES])
@pytest.mark.parametrize("size", [1024, 64 * 1024])
def test_each_shape_is_about_the_size_asked_and_is_read_without_error(shape, size):
    text = shape.make(size)
    assert 0.75 * size <= len(text) <= size + 16  # whole units of the shape: a little under at most
    shape.read(text)


def test_the_report_has_a_row_and_a_ratio_per_shape():
    rows = [(shape, [1e-6, 1.5e-6]) for shape in parse.SHAPES]
    lines = parse.report(rows, max_kib=4).splitlines()
    assert [line.split(" | ")[0].removeprefix("| ") for line in lines[4:]] == [shape.name for shape in parse.SHAPES]
    assert all(line.endswith("1.50 ✅ |") for line in lines[4:])
