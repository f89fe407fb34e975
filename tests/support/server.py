"""Real daphne processes for end-to-end tests, sharing the pytest test database.

Use the `daphne_server` fixture; it is a factory (it needs `transactional_db`, which it requests):

    def test_something(daphne_server, alice, login):
        server = daphne_server(DEDWEN_WS_AUTH_TIMEOUT="0.5")   # extra env; a value of None unsets it
        server.ws_url        # "ws://127.0.0.1:PORT/ws/"
        server.http_url      # "http://127.0.0.1:PORT"
        server.origin        # "http://127.0.0.1:PORT", an allowed Origin header value
        server.log()         # everything the process wrote to stdout and stderr so far
        server.wait_for_log("authenticated and connected", timeout=5)  # bounded poll; returns the log
        server.stop()        # optional: every server is stopped at the end of the test

Each call starts `.venv/bin/daphne -b 127.0.0.1 -p PORT dedwen.asgi:application` on a free port with
the test process's environment plus the extras, waits (bounded) until the port accepts connections,
and captures stdout/stderr in a file under the test's tmp_path. The child uses the same database as
the test (the SQLite test file, or a DATABASE_URL naming the PostgreSQL test database), the same
SECRET_KEY and JWT signing key (so tokens minted in the test are valid there), and the same
REDIS_URL/DEDWEN_REDIS_PREFIX (so with Redis, several servers and the test process share one
channel layer). Without Redis each server has its own in-process layer: an event published by the
test process does not reach it.

`start_daphne(env=..., log_path=...)` is the same thing without pytest, for scripts (bench/).

`stalled_socket(server)` opens /ws/ over a raw socket with a small receive buffer, for a client that
stops reading; `send_text_frame(sock, text)` sends on it and `read_until_close_frame(sock)` drains it
up to the server's close frame and returns (frames before it, close code).
"""

from __future__ import annotations

import base64
import os
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
DAPHNE = REPO / ".venv" / "bin" / "daphne"
START_TIMEOUT = 30.0


@dataclass
class DaphneServer:
    """A running daphne subprocess and where to reach it."""

    port: int
    process: subprocess.Popen
    log_path: Path
    _log_file: object = field(repr=False, default=None)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/"

    @property
    def origin(self) -> str:
        return self.http_url

    def log(self) -> str:
        """Return everything the server wrote so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, text: str, *, timeout: float = 5.0, count: int = 1) -> str:
        """Wait until `text` appears `count` times in the log; return the log, or fail after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.log()
            if log.count(text) >= count:
                return log
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not logged {count}x within {timeout}s; log:\n{log[-4000:]}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Terminate the process (SIGTERM, then SIGKILL after 10 s) and close the log."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def start_daphne(*, env: dict[str, str], log_path: Path, timeout: float = START_TIMEOUT) -> DaphneServer:
    """Start daphne on a free port with exactly `env`; return once the port accepts connections."""
    port = free_port()
    log_file = open(log_path, "ab")
    process = subprocess.Popen(
        [str(DAPHNE), "-b", "127.0.0.1", "-p", str(port), "dedwen.asgi:application"],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    server = DaphneServer(port=port, process=process, log_path=log_path, _log_file=log_file)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            server.stop()
            raise RuntimeError(f"daphne exited with {process.returncode}; log:\n{server.log()[-4000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"daphne did not listen on {port} within {timeout}s; log:\n{server.log()[-4000:]}")
        time.sleep(0.05)


def _database_env() -> dict[str, str]:
    """Point a child process at the database this test run uses (the test database)."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        # The settings' test NAME is derived as DEDWEN_SQLITE_PATH + ".test": name the file itself.
        return {"DEDWEN_SQLITE_PATH": str(db["NAME"]), "DATABASE_URL": ""}
    if db["ENGINE"] == "django.db.backends.postgresql":
        auth = quote(db["USER"] or "", safe="")
        if db.get("PASSWORD"):
            auth += ":" + quote(db["PASSWORD"], safe="")
        host = db.get("HOST") or "127.0.0.1"
        port = f":{db['PORT']}" if db.get("PORT") else ""
        return {"DATABASE_URL": f"postgres://{auth}@{host}{port}/{quote(db['NAME'], safe='')}"}
    raise NotImplementedError(f"no child database wiring for {db['ENGINE']}")


def child_env(extra: dict[str, str | None]) -> dict[str, str]:
    """Return the environment for a daphne child of this test process, with `extra` applied."""
    from django.conf import settings

    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="dedwen.settings",
        PYTHONUNBUFFERED="1",
        DEDWEN_SECRET_KEY=settings.SECRET_KEY,
        DEDWEN_JWT_SIGNING_KEY=settings.SIMPLE_JWT["SIGNING_KEY"],
        DEDWEN_ACCESS_TOKEN_LIFETIME=str(settings.ACCESS_TOKEN_LIFETIME),
        DEDWEN_PRESENCE_GRACE=str(settings.DEDWEN_PRESENCE_GRACE),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    env.update(_database_env())
    for name, value in extra.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = str(value)
    return {name: value for name, value in env.items() if value != ""}


@pytest.fixture
def daphne_server(transactional_db, tmp_path):
    """Return a factory that starts a real daphne on a free port (see the module docstring)."""
    servers: list[DaphneServer] = []

    def start(**extra_env: str | None) -> DaphneServer:
        log_path = tmp_path / f"daphne-{len(servers) + 1}.log"
        server = start_daphne(env=child_env(extra_env), log_path=log_path)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


RAW_WAIT = 5.0  # seconds: the bound on every raw-socket wait
OPCODE_TEXT, OPCODE_CLOSE = 0x1, 0x8


# A raw WebSocket client that can stop reading (slow-reader tests and bench/slow_readers.py) -------


def stalled_socket(server, *, rcvbuf: int = 4096) -> socket.socket:
    """Open /ws/ over a raw socket with a small receive buffer; return it after the 101 answer."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: sets the window
    sock.settimeout(RAW_WAIT)
    sock.connect(("127.0.0.1", server.port))
    key = base64.b64encode(os.urandom(16))
    sock.sendall(
        b"GET /ws/ HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (server.port, key)
    )
    head = b""
    while not head.endswith(b"\r\n\r\n"):  # the server sends nothing more before authentication
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def send_text_frame(sock: socket.socket, text: str) -> None:
    """Send one masked text frame."""
    payload = text.encode()
    mask = os.urandom(4)
    if len(payload) < 126:
        header = struct.pack("!BB", 0x80 | OPCODE_TEXT, 0x80 | len(payload))
    else:
        header = struct.pack("!BBH", 0x80 | OPCODE_TEXT, 0x80 | 126, len(payload))
    sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


def read_until_close_frame(sock: socket.socket, *, timeout: float = RAW_WAIT) -> tuple[int, int | None]:
    """Read frames until a close frame or the end of the stream; return (frames before it, its code)."""
    deadline = time.monotonic() + timeout
    buffer, frames = b"", 0
    while True:
        while len(buffer) >= 2:
            opcode, length, start = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    break
                length, start = struct.unpack("!H", buffer[2:4])[0], 4
            elif length == 127:
                if len(buffer) < 10:
                    break
                length, start = struct.unpack("!Q", buffer[2:10])[0], 10
            if len(buffer) < start + length:
                break
            payload, buffer = buffer[start : start + length], buffer[start + length :]
            if opcode == OPCODE_CLOSE:
                return frames, struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
            frames += 1
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(1 << 20)
        if not chunk:
            return frames, None
        buffer += chunk
