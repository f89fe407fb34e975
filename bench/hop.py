"""The latency that dedwen's Redis layer adds to a frame relayed between processes: a PUBLISH reaching another layer's subscriber.

A relay between sockets of two processes crosses Redis once: the sender's process publishes the
frame, Redis hands it to the other process's pub/sub connection, and that layer gives it to the
member's socket. (Between sockets of one process the layer delivers at once, without Redis.) That
hop, measured alone here at the relay workload's pace between two layers of this process (as two
processes would hold them), added to D's relay p99 (daphne's own, from `bin/bench`), gives the
least relay p99 between two Redis-backed daphne processes on the machine (docs/performance.md).
Run it on one core, with nothing else running:

  REDIS_URL=redis://127.0.0.1:6379/7 DEDWEN_REDIS_PREFIX=hop taskset -c 1 .venv/bin/python -m bench.hop
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

WARM_UP = "warm-up"  # the text of the uncounted first frame


async def measure(*, rate: float, count: int) -> dict[str, float]:
    """Send `count` frames to a member's group at `rate` per second; return the hop's percentiles, in ms."""
    from channels.layers import get_channel_layer
    from django.conf import settings

    from realtime.layers import RedisPubSubChannelLayer
    from realtime.protocol import EVENT_FRAME, user_group

    layer = get_channel_layer()
    if not isinstance(layer, RedisPubSubChannelLayer):
        raise SystemExit("set REDIS_URL: this measures dedwen's Redis layer")
    sender = RedisPubSubChannelLayer(**settings.CHANNEL_LAYERS["default"]["CONFIG"])  # another process's
    channel = await layer.new_channel()
    group = user_group(1)
    await layer.group_add_many([group], channel)
    loop = asyncio.get_running_loop()
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    warmed_up, all_in = loop.create_future(), loop.create_future()

    def received(messages) -> int:
        for message in messages:
            if message["text"] == WARM_UP:
                warmed_up.set_result(None)
                continue
            latencies.append(time.perf_counter() - sent_at.pop(message["text"]))
            if len(latencies) == count and not all_in.done():
                all_in.set_result(None)
        return len(messages)

    layer.receive_directly(channel, received)
    # The first frame also waits for the pub/sub reader to start: it is sent first and not counted.
    await sender.group_send_batch([([group], {"type": EVENT_FRAME, "text": WARM_UP})])
    await asyncio.wait_for(warmed_up, 10)
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(count):
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        text = str(i)
        sent_at[text] = time.perf_counter()
        await sender.group_send_batch([([group], {"type": EVENT_FRAME, "text": text})])
    await asyncio.wait_for(all_in, 10)
    cpu_us = (time.process_time() - cpu) / count * 1e6  # the publish, its receipt, and the pacing loop
    await layer.group_discard_many([group], channel)
    await sender.flush()
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"p50": cuts[49] * 1e3, "p99": cuts[98] * 1e3, "max": max(latencies) * 1e3, "cpu_us": cpu_us}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="frames per second (the relay workload's pace)")
    parser.add_argument("--count", type=int, default=3000, help="frames to send")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dedwen.settings")
    import django

    django.setup()
    figures = asyncio.run(measure(rate=args.rate, count=args.count))
    print(
        "Redis hop at {:.0f}/s over {} frames: p50 {p50:.3f} ms, p99 {p99:.3f} ms, max {max:.3f} ms;"
        " this process's CPU {cpu_us:.0f} µs per frame".format(args.rate, args.count, **figures)
    )


if __name__ == "__main__":
    main()
