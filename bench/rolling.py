"""Rolling restart: drain (SIGTERM) against kill (SIGKILL + immediate reconnect), two dedwen-redis processes.

    bin/bench rolling [--sockets 2000] [--drain-seconds 10]

For each mode: start processes P1 and P2 (PostgreSQL + Redis), open SOCKETS authenticated sockets on P2
(one user each) and PAIRS watcher sockets on P1 (each watcher shares a direct conversation with one
of P2's users); then stop P2 (SIGTERM, or SIGKILL). Every P2 socket reconnects to P1: after `goaway`
it waits `reconnect_after_ms` plus up to 1 s of jitter (as the web client does); after a kill it
reconnects at once. Meanwhile each watcher sends a message to its partner every 200 ms. Measured:
the time from the signal until every socket is authenticated on P1, connects per second on P1 (peak
and over time), `presence` frames the watchers received, and messages lost or delivered twice
(each partner syncs from the last id it saw once it is back). Writes bench/results/rolling.{json,png}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import time
from collections import Counter
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bench import launch, run, world as worlds

PAIRS = 20
SEND_EVERY = 0.2  # seconds between a watcher's messages
CONNECT_CONCURRENCY = 100
SYNC_DEADLINE = 120.0  # seconds a client back on P1 waits at most for its sync to finish


class Client:
    """One P2 user's socket: follows goaway (or a drop) to P1, records when it is authenticated there."""

    def __init__(self, user_index: int, token: str, user_id: int) -> None:
        self.user_index, self.token, self.user_id = user_index, token, user_id
        self.ws = None
        self.seen: Counter[int] = Counter()  # message ids received (live or by sync)
        self.back_at: float | None = None  # when it was authenticated on P1 again
        self.goaway_ms: int | None = None
        self.presence = 0

    async def open(self, url: str, origin: str) -> None:
        self.ws = await connect(url, origin=origin, compression=None, open_timeout=60, ping_interval=None, close_timeout=2, max_queue=None)
        await self.ws.send(json.dumps({"type": "authenticate", "data": {"token": self.token}}))
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), 60))
            if frame["type"] == "authenticated":
                return
            if frame["type"] == "error":
                raise RuntimeError(frame)

    async def read_until_closed(self) -> None:
        """Read live frames until the server closes (goaway first, when draining)."""
        try:
            async for text in self.ws:
                frame = json.loads(text)
                if frame["type"] == "message.new":
                    self.seen[frame["data"]["message"]["id"]] += 1
                elif frame["type"] == "goaway":
                    self.goaway_ms = frame["data"]["reconnect_after_ms"]
        except ConnectionClosed:
            pass

    async def sync_and_read(self, stop: asyncio.Event) -> None:
        """Back on P1: sync from the last id seen, then read until told to stop and the sync is done.

        Every client syncs at once after the restart; a loaded P1 may answer a sync after the
        watchers stop, so reading ends only once this client's `sync.done` says no more, at the latest
        SYNC_DEADLINE seconds after it was sent (a sync never answered shows as lost messages).
        """
        after = max(self.seen, default=0)
        await self.ws.send(json.dumps({"type": "sync", "data": {"after": after}}))
        synced = False
        deadline = time.monotonic() + SYNC_DEADLINE
        try:
            while not (stop.is_set() and synced) and time.monotonic() < deadline:
                try:
                    text = await asyncio.wait_for(self.ws.recv(), 0.5)
                except TimeoutError:
                    continue
                frame = json.loads(text)
                if frame["type"] == "message.new":
                    self.seen[frame["data"]["message"]["id"]] += 1
                elif frame["type"] == "sync.done" and frame["data"]["more"]:
                    await self.ws.send(json.dumps({"type": "sync", "data": {"after": frame["data"]["last_id"]}}))
                elif frame["type"] == "sync.done":
                    synced = True
        except ConnectionClosed:
            pass


async def watcher(ws, conversation_id: int, partner: Client, stop: asyncio.Event, sent: list[int], presence: Counter) -> None:
    """Send a message to the partner every SEND_EVERY seconds; count the presence frames received."""
    n = 0

    async def reader():
        async for text in ws:
            frame = json.loads(text)
            if frame["type"] == "ack":
                sent.append(frame["data"]["message"]["id"])
            elif frame["type"] == "presence" and frame["data"]["user_id"] == partner.user_id:
                presence[frame["data"]["status"]] += 1

    task = asyncio.create_task(reader())
    while not stop.is_set():
        n += 1
        await ws.send(json.dumps({"type": "message.send", "ref": str(n), "data": {"conversation_id": conversation_id, "body": f"m{n}", "client_id": f"roll-{conversation_id}-{time.time_ns()}"}}))
        await asyncio.sleep(SEND_EVERY)
    await asyncio.sleep(1.0)  # the last acks
    task.cancel()


async def scrape_transitions(server) -> float:
    """Return the process's dedwen_presence_transitions_total (all statuses), 0 when it is gone."""
    from prometheus_client.parser import text_string_to_metric_families
    import urllib.request

    try:
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(server.http_url + "/metrics", timeout=5).read().decode())
    except OSError:
        return 0.0
    return sum(s.value for f in text_string_to_metric_families(body) for s in f.samples if s.name == "dedwen_presence_transitions_total")


async def one_mode(mode: str, creds: dict, sockets: int, drain_seconds: float, log_dir: Path) -> dict:
    env = {**run.dedwen_env("dedwen-redis"), "DEDWEN_DRAIN_SECONDS": str(drain_seconds), "DEDWEN_LOG_LEVEL": "WARNING"}
    run.flush_redis()
    port1 = launch.free_port()
    p1 = launch.start(f"rolling-{mode}-p1", [run.DAPHNE, "-b", "127.0.0.1", "-p", str(port1), "dedwen.asgi:application"], env=env, log_dir=log_dir, port=port1)
    port2 = launch.free_port()
    p2 = launch.start(f"rolling-{mode}-p2", [run.DAPHNE, "-b", "127.0.0.1", "-p", str(port2), "dedwen.asgi:application"], env=env, log_dir=log_dir, port=port2)
    try:
        # P2's users: idle users, and the first user of each pair (whose partner watches from P1).
        indices = list(range(sockets - PAIRS)) + [a for a, _ in creds["pair_users"]]
        by_index = {i: Client(i, creds["tokens"][i], creds["user_ids"][i]) for i in indices}
        clients = list(by_index.values())
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def first_open(c: Client) -> None:
            async with gate:
                await c.open(p2.ws_url, p2.http_url)

        t0 = time.monotonic()
        await asyncio.gather(*(first_open(c) for c in clients))
        print(f"   {mode}: {sockets} sockets on P2 in {time.monotonic() - t0:.1f}s", flush=True)
        readers = [asyncio.create_task(c.read_until_closed()) for c in clients]

        # Watchers on P1: one per pair conversation, partnered with the first PAIRS users of P2.
        stop, sent, presence = asyncio.Event(), [], Counter()
        watcher_tasks, watcher_sockets = [], []
        for i in range(PAIRS):
            a, b = creds["pair_users"][i]
            conv = creds["pair_conversations"][i]
            ws = await connect(p1.ws_url, origin=p1.http_url, compression=None, ping_interval=None)
            await ws.send(json.dumps({"type": "authenticate", "data": {"token": creds["tokens"][b]}}))
            while json.loads(await ws.recv())["type"] != "presence.snapshot":
                pass
            watcher_sockets.append(ws)
            partner = by_index[a]
            watcher_tasks.append(asyncio.create_task(watcher(ws, conv, partner, stop, sent, presence)))
        await asyncio.sleep(1.0)
        transitions_before = await scrape_transitions(p1)

        signalled = time.monotonic()
        os.killpg(p2.process.pid, signal.SIGTERM if mode == "drain" else signal.SIGKILL)
        back_gate = asyncio.Semaphore(500)

        async def come_back(c: Client, reader: asyncio.Task) -> None:
            await reader
            if c.goaway_ms is not None:  # as the web client: the server's delay plus up to 1 s of jitter
                await asyncio.sleep(c.goaway_ms / 1000 + random.random())
            for attempt in range(20):
                try:
                    async with back_gate:
                        await c.open(p1.ws_url, p1.http_url)
                    break
                except (OSError, ConnectionClosed, TimeoutError, RuntimeError):
                    await asyncio.sleep(min(5.0, 0.2 * 2**attempt) * random.random())
            c.back_at = time.monotonic() - signalled

        await asyncio.gather(*(come_back(c, r) for c, r in zip(clients, readers)))
        all_back = max(c.back_at for c in clients)
        print(f"   {mode}: every socket back on P1 {all_back:.1f}s after the signal", flush=True)
        done_reading = asyncio.Event()
        syncing = [asyncio.create_task(c.sync_and_read(done_reading)) for c in clients]
        await asyncio.sleep(2.0)
        stop.set()  # the watchers stop sending
        await asyncio.gather(*watcher_tasks)
        await asyncio.sleep(2.0)  # the last live deliveries
        done_reading.set()
        await asyncio.gather(*syncing)
        transitions_after = await scrape_transitions(p1)

        partners = [by_index[creds["pair_users"][i][0]] for i in range(PAIRS)]
        received = Counter()
        for p in partners:
            received.update(p.seen)
        lost = sum(1 for mid in sent if received[mid] == 0)
        twice = sum(1 for mid in sent if received[mid] > 1)
        per_second = Counter(int(c.back_at) for c in clients)
        horizon = int(all_back) + 1
        series = [per_second.get(s, 0) for s in range(horizon)]
        for ws in watcher_sockets:
            await ws.close()
        for c in clients:
            await c.ws.close()
        return {
            "mode": mode,
            "sockets": sockets,
            "all_back_seconds": round(all_back, 2),
            "peak_connects_per_second": max(series),
            "connects_per_second": series,
            "presence_frames_to_watchers": dict(presence),
            "presence_transitions_announced_by_p1": transitions_after - transitions_before,
            "messages_sent": len(sent),
            "messages_lost": lost,
            "messages_received_twice": twice,  # live and by sync: the client drops the copy by id
            "goaway_ms_max": max((c.goaway_ms or 0) for c in clients),
        }
    finally:
        p1.stop()
        p2.stop()


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    for result in results:
        ax.step(range(len(result["connects_per_second"])), result["connects_per_second"], where="post", label=f"{result['mode']} (peak {result['peak_connects_per_second']}/s)")
    ax.set_xlabel("seconds after the signal")
    ax.set_ylabel("connects per second on P1")
    ax.set_title(f"Rolling restart of a process holding {results[0]['sockets']} sockets")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--drain-seconds", type=float, default=10.0)
    parser.add_argument("--out", default=str(run.REPO / "bench" / "results"))
    args = parser.parse_args(argv)
    run.clean_env()
    out = Path(args.out)
    work = run.SQLITE_DIR / "rolling"
    work.mkdir(parents=True, exist_ok=True)
    world = worlds.build(idle_users=args.sockets, pairs=PAIRS, fanout_members=2, fanout_small=2, revocations=0)
    world_path = work / "world.json"
    worlds.save(world, world_path)
    creds = run.seed_dedwen("dedwen-redis", world_path, work / "creds.json")
    # Pair i: user i (on P2) and a watcher user of the pair range (on P1), sharing a direct conversation.
    creds["pair_users"] = [(world.pair(i)[0], world.pair(i)[1]) for i in range(PAIRS)]
    conversations = {int(k): v for k, v in creds["conversations"].items()}
    creds["pair_conversations"] = [conversations[world.pair_conversation(i)] for i in range(PAIRS)]
    load = os.getloadavg()
    results = []
    for mode in ("drain", "kill"):
        results.append(asyncio.run(one_mode(mode, creds, args.sockets, args.drain_seconds, work / "logs")))
    report = {"load_before": load, "load_after": os.getloadavg(), "cpus": os.cpu_count(), "results": results}
    out.mkdir(parents=True, exist_ok=True)
    (out / "rolling.json").write_text(json.dumps(report, indent=2))
    plot(results, out / "rolling.png")
    drain, kill = results
    print(json.dumps({r["mode"]: {k: v for k, v in r.items() if k != "connects_per_second"} for r in results}, indent=2))
    ok = drain["peak_connects_per_second"] * 2 <= kill["peak_connects_per_second"]
    print(f"drain peak {drain['peak_connects_per_second']}/s vs kill {kill['peak_connects_per_second']}/s: {'at most half' if ok else 'MORE than half'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
