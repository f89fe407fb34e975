"""The ports the tests and the bench start servers on: never one a client connection can take first."""

from __future__ import annotations

import socket

from tests.support import ports


def test_a_free_port_lies_outside_the_ephemeral_range_and_can_be_bound():
    port = ports.free_port()

    assert port not in ports.ephemeral_range()
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))


def test_a_port_someone_listens_on_is_passed_over(monkeypatch):
    with socket.socket() as holder, socket.socket() as probe:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        held = holder.getsockname()[1]
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
        probe.close()
        monkeypatch.setattr(ports.random, "sample", lambda choices, count: [held, free])

        assert ports.free_port() == free


def test_an_unreadable_range_falls_back_to_linux_default(monkeypatch, tmp_path):
    monkeypatch.setattr(ports, "EPHEMERAL_RANGE", tmp_path / "missing")

    assert ports.ephemeral_range() == range(32_768, 61_000)
