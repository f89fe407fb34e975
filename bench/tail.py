"""Where the slow frames of a paced relay (or the slow acks of paced sends) fall: in episodes of the machine that every server meets, or alone.

The relay p99 goal compares servers on their slowest 1 % of frames at 1,000/s: 30 frames in the
rounds' 3 s. This runs that relay against each server named, as `bin/bench` starts them, and lists
the episodes in it: runs of frames slower than `--slow-ms`, in send order (a run may skip a frame
or two, since a pair's frames alternate with the others'), with when each began and how long it
lasted. One episode of 50 ms holds more frames than a p99 counts, so a server's p99 follows whether
an episode fell inside its window. Each run also gives the p99 of each of its windows as long as
the suite's. Run it with nothing else running:

  .venv/bin/python -m bench.tail --servers R,D,dedwen --runs 3

`--workload message` does the same for persisted sends at a paced rate (the suite's ack p99 at
equal load), their acks in place of the frames, e.g. 15 s at 54/s, for B-chat-redis and dedwen-redis:

  .venv/bin/python -m bench.tail --workload message --servers B-chat-redis,dedwen-redis --rate 54 --seconds 15
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
from pathlib import Path

GAP = 3  # frames below the line that an episode may skip and go on


@dataclass(frozen=True)
class Episode:
    """A run of slow frames: when its first was sent (ms into the relay), how many it held, and the slowest (ms)."""

    start_ms: float
    frames: int
    worst_ms: float


def episodes(record: list[tuple[float, float]], *, slow_ms: float) -> list[Episode]:
    """Group the frames slower than slow_ms, in send order, into episodes (see the module docstring)."""
    found: list[Episode] = []
    start = frames = last = worst = None
    for index, (sent, latency) in enumerate(sorted(record)):
        if latency * 1000 <= slow_ms:
            continue
        if last is not None and index - last <= GAP:
            frames, worst = frames + 1, max(worst, latency)
        else:
            if start is not None:
                found.append(Episode(round(start * 1000, 1), frames, round(worst * 1000, 2)))
            start, frames, worst = sent, 1, latency
        last = index
    if start is not None:
        found.append(Episode(round(start * 1000, 1), frames, round(worst * 1000, 2)))
    return found


@dataclass(frozen=True)
class Workload:
    """What one paced workload's runs are read against."""

    window: float  # seconds: its window in the suite, whose p99 a goal judges
    rate: float  # frames (sends) per second unless --rate
    slow_ms: float  # a frame (ack) slower than this is slow unless --slow-ms
    fewest: int  # the fewest slow frames (acks) listed as an episode: 10 ms of frames at 1,000/s, 60 ms of acks at 50/s


WORKLOADS = {"relay": Workload(window=3.0, rate=1000.0, slow_ms=0.5, fewest=10), "message": Workload(window=3.0, rate=50.0, slow_ms=40.0, fewest=3)}


def window_p99s(record: list[tuple[float, float]], *, window: float) -> list[float]:
    """Return the p99 (ms) of each `window`-second stretch of the record, by send time (the last stretch may be short)."""
    from bench.client import percentiles

    stretches: dict[int, list[float]] = {}
    for sent, latency in record:
        stretches.setdefault(int(sent // window), []).append(latency)
    return [round(percentiles(stretches[index])["p99"], 2) for index in sorted(stretches)]


async def _measure(
    name: str, workload: str, runs: int, seconds: float, rate: float, slow_ms: float, cold: bool, work: Path
) -> None:
    from bench import client, launch, run, world as worlds

    prof = run.PROFILES["full"]
    world = worlds.build(**prof.world)
    world_path = work / "world.json"
    worlds.save(world, world_path)
    if run.needs_clean_redis(name):  # before seeding, as bin/bench does
        run.flush_redis()
    if name.startswith("B-chat"):
        run.migrate_chat(name, work)
    creds = run.seed_dedwen(name, world_path, work / f"{name}-creds.json") if name.startswith("dedwen") else None
    server = run.start_server(name, launch.free_port(), world_path, work / "logs")
    try:
        pairs = await client.open_pairs(run.target_for(name, server, world, creds), world, world.pairs)
        if not cold:
            await client.warm_up(pairs)  # as the rounds do
        window, fewest = WORKLOADS[workload].window, WORKLOADS[workload].fewest
        unit = "frames" if workload == "relay" else "acks"
        for number in range(1, runs + 1):
            record: list[tuple[float, float]] = []
            if workload == "relay":
                result = await client.relay(pairs, rate=rate, duration=seconds, record=record)
                figures = result["latency_ms"]
            else:
                result = await client.message_paced(pairs, rate=rate, duration=seconds, record=record)
                figures = result["ack_ms"]
            found = episodes(record, slow_ms=slow_ms)
            long = [episode for episode in found if episode.frames >= fewest]
            print(
                f"{name:<13} run {number}: p50 {figures['p50']:.3f} ms, p99 {figures['p99']:.3f} ms"
                f" (of each {window:g}-s window: {', '.join(map(str, window_p99s(record, window=window)))});"
                f" {sum(e.frames for e in found)} {unit} over {slow_ms} ms, {sum(e.frames for e in long)} of them in"
                f" {len(long)} episodes of {fewest} or more: "
                + ", ".join(f"{e.start_ms:.0f} ms ({e.frames} {unit}, worst {e.worst_ms} ms)" for e in long),
                flush=True,
            )
        await client.close_all(pairs.all)
    finally:
        server.stop()


def main() -> None:
    from bench import launch, run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default="R,D,dedwen")
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="relay", help="paced relay (typing) or paced persisted sends")
    parser.add_argument("--runs", type=int, default=3, help="runs per server")
    parser.add_argument("--seconds", type=float, default=3.0, help="each run's length (the suite's: 3 s)")
    parser.add_argument("--rate", type=float, help="frames (sends) per second; relay 1,000, message 50 unless given")
    parser.add_argument("--slow-ms", type=float, help="a frame (ack) slower than this is slow; relay 0.5, message 40 unless given")
    parser.add_argument("--cold", action="store_true", help="no warm-up frame per pair before the first run")
    args = parser.parse_args()
    run.clean_env()
    launch.raise_nofile()
    launch.pin_client()
    work = run.SQLITE_DIR / "tail"
    work.mkdir(parents=True, exist_ok=True)
    defaults = WORKLOADS[args.workload]
    rate = args.rate if args.rate is not None else defaults.rate
    slow_ms = args.slow_ms if args.slow_ms is not None else defaults.slow_ms
    for name in args.servers.split(","):
        asyncio.run(_measure(name.strip(), args.workload, args.runs, args.seconds, rate, slow_ms, args.cold, work))


if __name__ == "__main__":
    main()
