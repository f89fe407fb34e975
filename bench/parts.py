"""CPU per connect of each piece of work a dedwen connect does, measured one piece at a time outside the server.

Run on one core against a database that `bin/bench` seeded (its users, devices and conversations),
with the configuration to measure in the environment, e.g. PostgreSQL + Redis:

  DATABASE_URL=postgres://postgres@127.0.0.1:5432/dedwen_bench REDIS_URL=redis://127.0.0.1:6379/7 \\
  DEDWEN_REDIS_PREFIX=parts taskset -c 1 .venv/bin/python -m bench.parts

Each line is the process CPU per operation over `--count` sockets' worth of calls, in the order a
socket makes them. Added to D's connect (daphne's own cost, from `bin/bench`), they give the least a
connect that does this work can cost on the machine (docs/performance.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time


async def measure(count: int) -> list[tuple[str, float]]:
    from channels.layers import get_channel_layer

    from accounts import usage
    from accounts.models import Device
    from accounts.tokens import mint_access_token
    from presence import runtime
    from realtime import db
    from realtime.connections import REGISTRY, Connection
    from realtime.consumer import _accept_first_token

    def tokens() -> list[str]:
        devices = Device.objects.filter(revoked_at__isnull=True).select_related("user").order_by("id")[:count]
        return [str(mint_access_token(device)) for device in devices]

    lines: list[tuple[str, float]] = []

    async def timed(label: str, one, items):
        items = list(items)
        cpu = time.process_time()
        results = [await one(item) for item in items]
        lines.append((label, (time.process_time() - cpu) / len(items) * 1e6))
        return results

    raw = await db.call(tokens)
    if len(raw) < count:
        raise SystemExit(f"the database has {len(raw)} live devices; seed it with bin/bench first")
    await timed("database hop, nothing in it", lambda _: db.call(lambda: None), range(count))
    accepted = await timed("database hop: token, device, last-used stamp, circle", lambda t: db.call(_accept_first_token, t), raw)
    # The stamps are written in bulk (accounts.usage): one write for all of them, counted per socket.
    cpu = time.process_time()
    await usage.flush()
    lines.append(("last-used: the bulk write's share", (time.process_time() - cpu) / count * 1e6))
    await timed("database hop: token, device, circle (used a minute ago)", lambda t: db.call(_accept_first_token, t), raw)
    layer = get_channel_layer()
    channels: list[str] = []

    async def subscribe(identity) -> None:
        channel = await layer.new_channel()
        await layer.group_add_many([f"user.{identity.user_id}", f"device.{identity.device_id}"], channel)
        channels.append(channel)

    await timed("layer: the socket's channel and its 2 groups", lambda a: subscribe(a[0]), accepted)
    store = runtime.running_store()

    async def open_presence(i: int):
        identity, prepared = accepted[i]
        circle = prepared.get("presence")
        return await store.open_and_read(user_id=identity.user_id, socket_id=channels[i], user_ids=circle.contacts if circle else [])

    await timed("presence: open and read the circle's statuses", open_presence, range(count))

    def entry(i: int) -> Connection:
        identity = accepted[i][0]
        return Connection(
            connection_id=f"parts-{i}", user_id=identity.user_id, username=identity.username, device_id=identity.device_id,
            process="parts", connected_at="2026-01-01T00:00:00+00:00", client_ip="127.0.0.1", user_agent="parts",
            channel_name=channels[i],
        )

    await timed("live connections: add", lambda i: REGISTRY.add(entry(i)), range(count))
    await timed("live connections: remove", lambda i: REGISTRY.remove(f"parts-{i}"), range(count))
    await timed("presence: close", lambda i: store.close(user_id=accepted[i][0].user_id, socket_id=channels[i]), range(count))

    async def unsubscribe(i: int) -> None:
        identity = accepted[i][0]
        await layer.group_discard_many([f"user.{identity.user_id}", f"device.{identity.device_id}"], channels[i])

    await timed("layer: leave the 2 groups", unsubscribe, range(count))
    await runtime.shutdown()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1500, help="sockets' worth of calls per piece")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dedwen.settings")
    import django

    django.setup()
    lines = asyncio.run(measure(args.count))
    for label, micros in lines:
        print(f"{micros:8.1f} µs  {label}")


if __name__ == "__main__":
    main()
