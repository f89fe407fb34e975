"""Sample a server under test with py-spy while one workload runs, and summarize where its CPU went.

Used by `bin/bench --py-spy DIR` (py-spy comes with the bench extra; it needs ptrace).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections import Counter
from pathlib import Path

from bench.launch import VENV_BIN


def available() -> str | None:
    """Return the py-spy executable, or None."""
    local = VENV_BIN / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


class Recording:
    """A py-spy process recording collapsed stacks of one pid until stopped."""

    def __init__(self, pid: int, out: Path, rate: int = 250) -> None:
        self.out = out
        out.parent.mkdir(parents=True, exist_ok=True)
        argv = [available(), "record", "--pid", str(pid), "--format", "raw", "--gil", "--rate", str(rate), "--nonblocking", "-o", str(out)]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> dict | None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return None
        return summarize(self.out) if self.out.exists() else None


def _split(frame: str) -> tuple[str, str]:
    """Return a py-spy frame's function and file path: ("f", "realtime/consumer.py") for "f (realtime/consumer.py:12)"."""
    name, _, where = frame.partition(" (")
    return name, where.split(":")[0]


def _frame_name(frame: str) -> str:
    # "function (path/to/file.py:123)" -> "function (file.py)"
    name, path = _split(frame)
    file = path.rsplit("/", 1)[-1]
    return f"{name} ({file})" if file else name


def _package(frame: str) -> str:
    """Return the top-level package or module of a frame: "realtime" for "f (realtime/consumer.py:12)", "(unknown)" without a path."""
    _, path = _split(frame)
    if not path:
        return "(unknown)"
    return path.split("/", 1)[0].removesuffix(".py")


def summarize(path: Path, top: int = 25) -> dict:
    """Return the busiest functions by inclusive and by self share of the samples, and the self share of each package.

    The packages' shares hold even where py-spy could not unwind a whole stack (a coroutine
    resumed by the event loop shows only its own frames): a sample's last frame is always its own.
    """
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_frame_name(f) for f in stack.split(";")[1:]]  # the first is the thread
        total += n
        for name in set(frames):
            inclusive[name] += n
        if frames:
            own[frames[-1]] += n
        packages[_package(stack.rsplit(";", 1)[-1])] += n
    share = lambda c: [(name, round(100.0 * k / total, 1)) for name, k in c.most_common(top)]  # noqa: E731
    return {
        "samples": total,
        "inclusive_pct": share(inclusive),
        "self_pct": share(own),
        "self_by_package_pct": share(packages),
        "file": str(path),
    }
