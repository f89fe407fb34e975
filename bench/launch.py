"""Start a server under test pinned to one core, wait until it listens, read its CPU and memory, stop it."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.ports import free_port  # noqa: F401  (the bench's servers take their ports here)

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
SERVER_CORE = 0
CLIENT_CORE = 1
# The cores this process may use before pin_client narrows them: a server started later inherits
# the client's core, so whether it can have its own is decided from these.
CORES = frozenset(os.sched_getaffinity(0))


def can_pin() -> bool:
    """Tell whether the client and the servers can each have a core of their own."""
    return {SERVER_CORE, CLIENT_CORE} <= CORES


def pin_client() -> bool:
    """Pin this (client) process to the client core; False on a one-core machine."""
    if not can_pin():
        return False
    os.sched_setaffinity(0, {CLIENT_CORE})
    return True


def cores_busy() -> list[float]:
    """Return the CPU seconds each core has spent busy (not idle, not waiting on I/O) since boot."""
    import psutil

    return [sum(times) - times.idle - getattr(times, "iowait", 0.0) for times in psutil.cpu_times(percpu=True)]


def busy_shares(before: list[float], seconds: float) -> dict[str, float] | None:
    """Return how busy the server's and the client's cores were since `before`, as shares of `seconds`."""
    if not can_pin() or seconds <= 0:
        return None
    after = cores_busy()
    return {role: round((after[core] - before[core]) / seconds, 2) for role, core in (("server", SERVER_CORE), ("client", CLIENT_CORE))}


def raise_nofile() -> int:
    """Raise the open-files limit to the hard limit; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def _child_setup() -> None:
    raise_nofile()
    if can_pin():  # not "this process has two cores": it inherited the client's one
        os.sched_setaffinity(0, {SERVER_CORE})
    os.setsid()


@dataclass
class Server:
    """A server process under test."""

    name: str
    port: int
    process: subprocess.Popen
    log_path: Path
    _ps: Any = field(default=None, repr=False)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ps(self):
        """The server's psutil.Process (psutil comes with the bench extra)."""
        if self._ps is None:
            import psutil

            self._ps = psutil.Process(self.process.pid)
        return self._ps

    def cpu(self) -> float:
        """Return the CPU seconds (user + system) the server has used so far."""
        times = self.ps.cpu_times()
        return times.user + times.system

    def rss(self) -> int:
        return self.ps.memory_info().rss

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def start(name: str, argv: list[str], *, env: dict[str, str], log_dir: Path, port: int, timeout: float = 60.0) -> Server:
    """Start argv (pinned to the server core) and wait until 127.0.0.1:port accepts connections."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, cwd=REPO, env=full_env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_child_setup)
    server = Server(name=name, port=port, process=process, log_path=log_path)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{server.log_tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"{name} did not listen on {port} within {timeout}s:\n{server.log_tail()}")
            time.sleep(0.05)
