"""The live-connections registry's Redis mirror: the writes of one moment go out together, none is lost."""

from __future__ import annotations

import asyncio

from realtime.connections import PROCESS_ID, Connection, Registry
from tests.support.services import require_redis


def connection(number: int) -> Connection:
    return Connection(
        connection_id=f"c{number:03}", user_id=number, username=f"user{number}", device_id=number, process=PROCESS_ID,
        connected_at="2026-01-01T00:00:00+00:00", client_ip="127.0.0.1", user_agent="test", channel_name=f"ch.{number}",
    )


async def test_sockets_added_and_removed_at_once_are_written_together_and_each_caller_returns_once_written(
    monkeypatch,
):
    require_redis()
    registry, pipelines = Registry(), []
    write = registry._write

    async def counted(build):
        pipelines.append(build)
        await write(build)

    monkeypatch.setattr(registry, "_write", counted)

    await asyncio.gather(*(registry.add(connection(n)) for n in range(50)))
    listed_after_adds = [entry.connection_id for entry in registry._all_from_redis()]
    await asyncio.gather(*(registry.remove(f"c{n:03}") for n in range(0, 50, 2)), registry.add(connection(50)))
    listed_after_removes = sorted(entry.connection_id for entry in registry._all_from_redis())

    assert sorted(listed_after_adds) == [f"c{n:03}" for n in range(50)]
    assert listed_after_removes == [f"c{n:03}" for n in range(1, 50, 2)] + ["c050"]
    assert len(pipelines) <= 4  # two moments of 50 and 26 changes: a pipeline for the first change of each, one for the rest
