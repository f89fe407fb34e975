"""The load client: authenticated sockets, and one function per workload (each bounded in count and time).

Every workload returns a plain dict of figures. Latencies are measured in this process with
time.perf_counter; server CPU seconds are read from the server process around the workload.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import urllib.request
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bench.launch import Server, busy_shares, cores_busy

now = time.perf_counter
NORMAL_CLOSES = {1000, 1001}


@dataclass
class Target:
    """A server under test as the client sees it: where it listens and the credentials of every user."""

    name: str
    server: Server
    tokens: list[str]  # by world user index
    user_ids: list[int]  # by world user index
    conversations: dict[int, int]  # world conversation index -> id on the wire
    revocation_tokens: list[str] = field(default_factory=list)  # dedwen only: one device each
    dedwen: bool = False

    @property
    def origin(self) -> str:
        return self.server.http_url


class AuthFailed(Exception):
    """The server closed the socket, or sent something else, instead of `authenticated`."""


class Conn:
    """An authenticated socket whose frames are handed to `on_frame(text, t)` by a reader task."""

    def __init__(self, ws: ClientConnection, user_id: int) -> None:
        self.ws = ws
        self.user_id = user_id
        self.on_frame: Callable[[str, float], None] | None = None
        self.close_code: int | None = None
        self.closed_at: float | None = None
        self.we_closed = False
        self.done = asyncio.get_running_loop().create_future()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                handler = self.on_frame
                if handler is not None:
                    handler(text, now())
        except ConnectionClosed:
            pass
        finally:
            self.closed_at = now()
            self.close_code = self.ws.close_code if self.ws.close_code is not None else 1006
            if not self.done.done():
                self.done.set_result(self.close_code)

    async def send(self, frame: dict) -> None:
        await self.ws.send(json.dumps(frame, separators=(",", ":")))

    @property
    def abnormal(self) -> bool:
        """Closed by the server or the network with a code other than a normal close."""
        return self.close_code is not None and not self.we_closed and self.close_code not in NORMAL_CLOSES

    async def close(self, timeout: float = 3.0) -> None:
        self.we_closed = True
        try:
            await asyncio.wait_for(self.ws.close(), timeout)
        except (TimeoutError, ConnectionClosed, OSError):
            self.ws.transport.abort()
        try:
            await asyncio.wait_for(self.reader, timeout)
        except TimeoutError:
            self.reader.cancel()

    def abort(self) -> None:
        self.we_closed = True
        self.ws.transport.abort()


async def open_authenticated(target: Target, user: int, *, token: str | None = None, timeout: float = 10.0) -> Conn:
    """Connect, send `authenticate` first, and return once `authenticated` arrives."""
    token = target.tokens[user] if token is None else token
    ws = await connect(
        target.server.ws_url,
        origin=target.origin,
        compression=None,
        proxy=None,
        open_timeout=timeout,
        ping_interval=None,
        close_timeout=2,
        max_size=2**20,
        max_queue=None,
    )
    try:
        await ws.send(json.dumps({"type": "authenticate", "data": {"token": token}}))
        while True:
            text = await asyncio.wait_for(ws.recv(), timeout)
            if '"authenticated"' in text[:40]:
                break
            frame = json.loads(text)
            if frame.get("type") == "authenticated":
                break
            if frame.get("type") == "error":
                raise AuthFailed(f"error frame {frame.get('data')}")
    except ConnectionClosed as exc:
        raise AuthFailed(f"closed {exc.rcvd.code if exc.rcvd else 1006}") from None
    except BaseException:
        ws.transport.abort()
        raise
    return Conn(ws, target.user_ids[user])


def _failure_name(exc: BaseException) -> str:
    if isinstance(exc, AuthFailed):
        return str(exc)
    if isinstance(exc, InvalidStatus):
        return f"http {exc.response.status_code}"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return type(exc).__name__


def percentiles(values: list[float], scale: float = 1000.0) -> dict[str, float | None]:
    """p50/p90/p99/max of the values, multiplied by scale (seconds -> ms by default)."""
    if not values:
        return {"p50": None, "p90": None, "p99": None, "max": None, "n": 0}
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * scale  # noqa: E731
    return {"p50": pick(0.50), "p90": pick(0.90), "p99": pick(0.99), "max": ordered[-1] * scale, "n": len(ordered)}


def sample(values: list[float], k: int = 400) -> list[float]:
    """Return at most k evenly spaced order statistics (ms), for CDF plots."""
    if not values:
        return []
    ordered = sorted(values)
    step = max(1, len(ordered) // k)
    return [round(v * 1000.0, 3) for v in ordered[::step]]


async def settle(server: Server, *, idle_share: float = 0.05, window: float = 0.3, limit: float = 15.0) -> None:
    """Wait (bounded) until the server uses under idle_share of a core: the previous workload is done."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = server.cpu()
        await asyncio.sleep(window)
        if (server.cpu() - before) / window < idle_share:
            return


async def measured(server: Server, work, ops_key: str = "ops") -> dict:
    """Run a workload coroutine and add the server CPU it cost (total and per operation)."""
    await settle(server)
    cpu0, busy0, t0 = server.cpu(), cores_busy(), time.monotonic()
    result = await work
    cpu = server.cpu() - cpu0
    result["server_cpu_s"] = round(cpu, 4)
    result["cores_busy"] = busy_shares(busy0, time.monotonic() - t0)
    ops = result.get(ops_key) or 0
    result["server_cpu_us_per_op"] = round(cpu / ops * 1e6, 1) if ops else None
    return result


async def close_all(conns: list[Conn], concurrency: int = 200) -> None:
    """Close many sockets politely, a few hundred at a time."""
    sem = asyncio.Semaphore(concurrency)

    async def one(conn: Conn) -> None:
        async with sem:
            await conn.close(timeout=2.0)

    await asyncio.gather(*(one(c) for c in conns))


# --- workloads ---------------------------------------------------------------------------------


async def connect_auth(target: Target, *, count: int, concurrency: int, limit: float = 120.0) -> dict:
    """Connect + authenticate `count` sockets (distinct users), `concurrency` at a time; close each."""
    sem = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    deadline = time.monotonic() + limit

    async def one(user: int) -> None:
        async with sem:
            if time.monotonic() > deadline:
                failures["not started (time limit)"] += 1
                return
            t0 = now()
            try:
                conn = await open_authenticated(target, user)
            except Exception as exc:  # noqa: BLE001 - every failure is counted by kind
                failures[_failure_name(exc)] += 1
                return
            latencies.append(now() - t0)
            await conn.close()

    t0 = now()
    await asyncio.gather(*(one(user) for user in range(count)))
    elapsed = now() - t0
    return {
        "count": count,
        "concurrency": concurrency,
        "ops": len(latencies),
        "failures": dict(failures),
        "elapsed_s": round(elapsed, 3),
        "per_s": round(len(latencies) / elapsed, 1),
        "latency_ms": percentiles(latencies),
        "cdf_ms": sample(latencies),
    }


async def ramp_idle(
    target: Target,
    *,
    checkpoints: list[int],
    concurrency: int,
    at_checkpoint=None,
    limit: float = 120.0,
    segment: int = 1000,
) -> tuple[dict, list[Conn]]:
    """Open and hold authenticated sockets up to each checkpoint; RSS per socket and ramp rate per segment.

    `at_checkpoint(n)` (a coroutine function) runs while n sockets are held. Returns the figures and
    the sockets (the caller closes them).
    """
    server = target.server
    await settle(server)
    rss0 = server.rss()
    conns: list[Conn] = []
    failures: Counter[str] = Counter()
    segments: list[dict] = []
    points: list[dict] = []
    deadline = time.monotonic() + limit
    next_user = itertools.count()
    goal = max(checkpoints)
    stopped = None

    async def opener(upto: int) -> None:
        while len(conns) + pending[0] < upto and time.monotonic() < deadline:
            user = next(next_user)
            if user >= len(target.tokens):
                return
            pending[0] += 1
            try:
                conns.append(await open_authenticated(target, user, timeout=15.0))
            except Exception as exc:  # noqa: BLE001
                failures[_failure_name(exc)] += 1
            finally:
                pending[0] -= 1

    pending = [0]
    for checkpoint in sorted(checkpoints):
        while len(conns) < checkpoint:
            upto = min(checkpoint, (len(conns) // segment + 1) * segment)
            start_n, t0 = len(conns), now()
            await asyncio.gather(*(opener(upto) for _ in range(concurrency)))
            if len(conns) == start_n:
                stopped = "time limit" if time.monotonic() >= deadline else "no progress"
                break
            segments.append({"upto": len(conns), "per_s": round((len(conns) - start_n) / (now() - t0), 1)})
            if sum(failures.values()) > max(50, checkpoint // 10):
                stopped = "too many failures"
                break
        if stopped:
            break
        await settle(server)
        rss = server.rss()
        points.append({"sockets": len(conns), "rss_mb": round(rss / 2**20, 1), "kib_per_socket": round((rss - rss0) / len(conns) / 1024, 2)})
        if at_checkpoint is not None:
            await at_checkpoint(len(conns))
    abnormal = Counter(c.close_code for c in conns if c.abnormal)
    first = segments[0]["per_s"] if segments else None
    last = segments[-1]["per_s"] if segments else None
    return (
        {
            "goal": goal,
            "held": len(conns),
            "baseline_rss_mb": round(rss0 / 2**20, 1),
            "points": points,
            "segments": segments,
            "first_segment_per_s": first,
            "last_segment_per_s": last,
            "ramp_ratio_last_vs_first": round(last / first, 3) if first and last else None,
            "failures": dict(failures),
            "abnormal_closes": {str(k): v for k, v in abnormal.items()},
            "stopped": stopped,
        },
        conns,
    )


@dataclass
class Pairs:
    """Sender and receiver sockets of the relay pairs, and the conversation of each pair."""

    senders: list[Conn]
    receivers: list[Conn]
    conversations: list[int]

    @property
    def all(self) -> list[Conn]:
        return self.senders + self.receivers


async def open_pairs(target: Target, world, count: int) -> Pairs:
    senders, receivers, convs = [], [], []
    for i in range(count):
        a, b = world.pair(i)
        senders.append(await open_authenticated(target, a))
        receivers.append(await open_authenticated(target, b))
        convs.append(target.conversations[world.pair_conversation(i)])
    return Pairs(senders, receivers, convs)


async def _drain(count, expected: int, *, quiet: float, cap: float = 60.0) -> None:
    """Wait until `count()` reaches `expected`, or nothing more arrived for `quiet` seconds (or `cap`).

    A slow server is waited for as long as it keeps delivering: what never arrives is lost, not late.
    """
    end = now() + cap
    last, last_change = count(), now()
    while count() < expected and now() < end and now() - last_change < quiet:
        await asyncio.sleep(0.02)
        if count() != last:
            last, last_change = count(), now()


def _typing_text(conversation_id: int) -> str:
    return json.dumps({"type": "typing", "data": {"conversation_id": conversation_id}}, separators=(",", ":"))


async def relay(
    pairs: Pairs, *, rate: float | None, duration: float, window: int = 8, drain: float = 3.0, record: list | None = None
) -> dict:
    """Typing point to point over the pairs: at a fixed total rate, or (rate None) as fast as they go.

    A receiver matches each `typing` with the oldest send on its pair (order is kept per socket);
    whatever has not arrived once nothing more arrives for `drain` seconds counts as lost.
    `record`, when given, gets (seconds from the start to the send, latency in seconds) of each
    delivered frame (bench.tail).
    """
    n = len(pairs.senders)
    sent_at = [deque() for _ in range(n)]
    latencies: list[float] = []
    sent = [0]
    delivered_at: list[float] = []
    windows = [asyncio.Semaphore(window) for _ in range(n)]
    texts = [_typing_text(c) for c in pairs.conversations]

    def receiver(i: int):
        queue, sem = sent_at[i], windows[i]

        def on_frame(text: str, t: float) -> None:
            if '"typing"' in text and queue:
                sent = queue.popleft()
                latencies.append(t - sent)
                delivered_at.append(t)
                if record is not None:
                    record.append((sent - t0, t - sent))
                sem.release()

        return on_frame

    for i, conn in enumerate(pairs.receivers):
        conn.on_frame = receiver(i)
    t0 = now()
    end = t0 + duration
    try:
        if rate is not None:
            total = int(rate * duration)
            for k in range(total):
                due = t0 + k / rate
                delay = due - now()
                if delay > 0:
                    await asyncio.sleep(delay)
                i = k % n
                sent_at[i].append(now())
                sent[0] += 1
                await pairs.senders[i].ws.send(texts[i])
        else:

            async def pump(i: int) -> None:
                conn, sem, queue, text = pairs.senders[i], windows[i], sent_at[i], texts[i]
                while now() < end:
                    try:
                        await asyncio.wait_for(sem.acquire(), max(0.001, end - now()))
                    except TimeoutError:
                        return
                    queue.append(now())
                    sent[0] += 1
                    await conn.ws.send(text)

            await asyncio.gather(*(pump(i) for i in range(n)))
    except ConnectionClosed:
        pass
    send_end = now()
    await _drain(lambda: len(latencies), sent[0], quiet=drain)
    for conn in pairs.receivers:
        conn.on_frame = None
    span = (max(delivered_at) - t0) if delivered_at else None
    return {
        "rate": rate,
        "duration_s": duration,
        "sent": sent[0],
        "ops": len(latencies),
        "lost": sent[0] - len(latencies),
        "offered_per_s": round(sent[0] / (send_end - t0), 1),
        "delivered_per_s": round(len(latencies) / span, 1) if span else 0.0,
        "latency_ms": percentiles(latencies),
        "cdf_ms": sample(latencies),
        "abnormal_closes": dict(Counter(str(c.close_code) for c in pairs.all if c.abnormal)),
    }


async def warm_up(pairs: Pairs) -> None:
    """Relay one frame on each pair, unmeasured: a server's first frame in a conversation may read what the next ones find cached."""
    await relay(pairs, rate=1000.0, duration=len(pairs.senders) / 1000.0, drain=1.0)


async def open_many(target: Target, users: list[int], concurrency: int = 50, timeout: float = 15.0, limit: float = 90.0) -> tuple[list[Conn], Counter]:
    """Open authenticated sockets for the users; a failed one is retried once; bounded by `limit` seconds."""
    sem = asyncio.Semaphore(concurrency)
    failures: Counter[str] = Counter()
    deadline = time.monotonic() + limit

    async def one(user: int) -> Conn | None:
        async with sem:
            for _ in range(2):
                if time.monotonic() > deadline:
                    failures["time limit"] += 1
                    return None
                try:
                    return await open_authenticated(target, user, timeout=timeout)
                except Exception as exc:  # noqa: BLE001
                    failures[_failure_name(exc)] += 1
            return None

    opened = await asyncio.gather(*(one(u) for u in users))
    return [c for c in opened if c is not None], failures


async def fanout(members: list[Conn], *, conversation_id: int, size: int, events: int, timeout: float = 10.0) -> dict:
    """One member sends `typing` to a `size`-member conversation; time until each other member has it."""
    sender, receivers = members[0], members[1:size]
    state = {"t0": 0.0, "left": 0, "done": None, "last": 0.0}
    every: list[float] = []
    last: list[float] = []
    missing = 0

    def on_frame(text: str, t: float) -> None:
        if '"typing"' in text and json.loads(text)["data"].get("conversation_id") == conversation_id:
            every.append(t - state["t0"])
            state["last"] = t
            state["left"] -= 1
            if state["left"] == 0 and not state["done"].done():
                state["done"].set_result(None)

    for conn in receivers:
        conn.on_frame = on_frame
    text = _typing_text(conversation_id)
    busy = 0.0
    for _ in range(events):
        state["done"] = asyncio.get_running_loop().create_future()
        state["left"] = len(receivers)
        state["t0"] = now()
        await sender.ws.send(text)
        try:
            await asyncio.wait_for(state["done"], timeout)
            last.append(state["last"] - state["t0"])
            busy += state["last"] - state["t0"]
        except TimeoutError:
            missing += state["left"] + (events - len(last) - 1) * len(receivers)
            busy += timeout
            break  # a server that lost this event would only repeat the wait
        await asyncio.sleep(0.05)  # let the stragglers' frames of this event drain
    for conn in receivers:
        conn.on_frame = None
    deliveries = len(every)
    return {
        "members": size,
        "events": events,
        "ops": deliveries,
        "missing": missing,
        "deliveries_per_s": round(deliveries / busy, 1) if busy else 0.0,
        "last_recipient_ms": percentiles(last),
        "every_recipient_ms": percentiles(every),
        "cdf_ms": sample(last),
        "abnormal_closes": dict(Counter(str(c.close_code) for c in members if c.abnormal)),
    }


async def flood(target: Target, world, *, pairs: int, per_pair: int, drain: float = 3.0) -> dict:
    """Every pair's sender sends `per_pair` typing frames as fast as it can; count what arrives and every close."""
    p = await open_pairs(target, world, pairs)
    received = [0] * pairs

    def receiver(i: int):
        def on_frame(text: str, t: float) -> None:
            if '"typing"' in text:
                received[i] += 1

        return on_frame

    for i, conn in enumerate(p.receivers):
        conn.on_frame = receiver(i)
    t0 = now()

    async def blast(i: int) -> None:
        text = _typing_text(p.conversations[i])
        try:
            for _ in range(per_pair):
                await p.senders[i].ws.send(text)
        except ConnectionClosed:
            pass

    await asyncio.gather(*(blast(i) for i in range(pairs)))
    total = pairs * per_pair
    await _drain(lambda: sum(received), total, quiet=drain)
    elapsed = now() - t0
    got = sum(received)
    await asyncio.sleep(0.2)
    abnormal = Counter(str(c.close_code) for c in p.all if c.abnormal)
    await close_all(p.all)
    return {
        "sent": total,
        "ops": got,
        "delivered": got,
        "dropped": total - got,
        "elapsed_s": round(elapsed, 3),
        "delivered_per_s": round(got / elapsed, 1),
        "abnormal_closes": dict(abnormal),
    }


async def burst(target: Target, *, users: list[int], hold: float = 1.0) -> dict:
    """Connect + authenticate all at once; count every failure and every abnormal close while held."""
    t0 = now()
    results = await asyncio.gather(*(open_authenticated(target, u, timeout=15.0) for u in users), return_exceptions=True)
    elapsed = now() - t0
    conns = [r for r in results if isinstance(r, Conn)]
    failures = Counter(_failure_name(r) for r in results if not isinstance(r, Conn))
    await asyncio.sleep(hold)
    abnormal = Counter(str(c.close_code) for c in conns if c.abnormal)
    await close_all(conns)
    return {
        "sockets": len(users),
        "ops": len(conns),
        "authenticated": len(conns),
        "failures": dict(failures),
        "abnormal_closes": dict(abnormal),
        "elapsed_s": round(elapsed, 3),
    }


# --- persisted messages (dedwen and B-chat) ------------------------------------------------------


class _MessageWatch:
    """Match each `message.send` with its `ack` (by ref) and its `message.new` (by client_id) on the pairs used."""

    def __init__(self, pairs: Pairs, n: int, record: list[tuple[float, float]] | None = None) -> None:
        self.ack_lat: list[float] = []
        self.record = record  # when given: (seconds from the start to the send, ack latency in seconds) of each ack
        self.started = now()
        self.delivery_lat: list[float] = []
        self.waiting: dict[str, asyncio.Future] = {}
        self.sent_at: dict[str, float] = {}  # client_id -> send time, until its message.new arrives
        self.unacked: dict[str, float] = {}  # ref -> send time, until its ack (or error) arrives
        self.errors: Counter[str] = Counter()
        self.run = f"{time.time_ns():x}"
        self.pairs = pairs
        for i in range(n):
            pairs.senders[i].on_frame = self.sender_frames
            pairs.receivers[i].on_frame = self.receiver_frames

    def sender_frames(self, text: str, t: float) -> None:
        if '"ack"' in text or '"error"' in text:
            frame = json.loads(text)
            ref = frame.get("ref")
            started = self.unacked.pop(ref, None)
            kind, data = frame.get("type"), frame.get("data")
            if started is not None:
                if kind == "ack":
                    self.ack_lat.append(t - started)
                    if self.record is not None:
                        self.record.append((started - self.started, t - started))
                else:
                    self.errors[str((data or {}).get("code"))] += 1
                    self.sent_at.pop(ref, None)
            fut = self.waiting.pop(ref, None)
            if fut is not None and not fut.done():
                fut.set_result(kind)

    def receiver_frames(self, text: str, t: float) -> None:
        if '"message.new"' in text:
            frame = json.loads(text)
            client_id = ((frame.get("data") or {}).get("message") or {}).get("client_id")
            started = self.sent_at.pop(client_id, None)
            if started is not None:
                self.delivery_lat.append(t - started)

    async def send(self, i: int, ref: str, body: str) -> None:
        """Send one message on pair i (ref doubles as client_id) and start its clocks."""
        started = now()
        self.unacked[ref] = started
        self.sent_at[ref] = started
        frame = {"type": "message.send", "ref": ref, "data": {"conversation_id": self.pairs.conversations[i], "body": body, "client_id": ref}}
        await self.pairs.senders[i].send(frame)

    async def finish(self, elapsed: float, drain: float = 5.0, **extra) -> dict:
        """Wait (bounded) for the acks and deliveries still due; return the figures."""
        deadline = now() + drain
        while (self.unacked or self.sent_at) and now() < deadline:
            await asyncio.sleep(0.02)
        for conn in self.pairs.all:
            conn.on_frame = None
        return {
            **extra,
            "ops": len(self.ack_lat),
            "acks_per_s": round(len(self.ack_lat) / elapsed, 1),
            "ack_ms": percentiles(self.ack_lat),
            "delivery_ms": percentiles(self.delivery_lat),
            "unacked": len(self.unacked),
            "undelivered": len(self.sent_at),
            "errors": dict(self.errors),
            "cdf_ms": sample(self.ack_lat),
            "abnormal_closes": dict(Counter(str(c.close_code) for c in self.pairs.all if c.abnormal)),
        }


async def message_send(pairs: Pairs, *, in_flight_pairs: int, duration: float, in_flight: int = 1, limit_per_pair: int = 10_000) -> dict:
    """Persisted `message.send` on `in_flight_pairs` sending pairs, each keeping `in_flight` sends unacked.

    Closed loop: each of the in_flight slots of a pair sends its next message when the previous one's
    `ack` arrives. Ack latency runs from send to ack; delivery latency to the other member's `message.new`.
    """
    n = in_flight_pairs
    watch = _MessageWatch(pairs, n)
    t0 = now()
    end = t0 + duration

    async def slot(i: int, j: int) -> None:
        for k in range(limit_per_pair):
            if now() >= end:
                return
            ref = f"{watch.run}-{i}-{j}-{k}"
            fut = asyncio.get_running_loop().create_future()
            watch.waiting[ref] = fut
            await watch.send(i, ref, f"bench {k}")
            try:
                await asyncio.wait_for(fut, 10.0)
            except TimeoutError:
                watch.errors["no ack in 10 s"] += 1
                return

    await asyncio.gather(*(slot(i, j) for i in range(n) for j in range(in_flight)))
    return await watch.finish(now() - t0, senders=n, in_flight_per_sender=in_flight)


async def message_paced(
    pairs: Pairs, *, rate: float, duration: float, drain: float = 10.0, record: list[tuple[float, float]] | None = None
) -> dict:
    """Persisted `message.send` at a fixed total rate spread round-robin over all pairs (open loop).

    Sends are due at t0 + k/rate whatever the acks do, so ack latency includes any queueing a server
    builds at this rate; what has no ack `drain` seconds after the last send counts as unacked.
    `record`, when given, gets (seconds from the start to the send, ack latency in seconds) of each ack.
    """
    n = len(pairs.senders)
    watch = _MessageWatch(pairs, n, record)
    total = max(1, int(rate * duration))
    t0 = watch.started
    try:
        for k in range(total):
            delay = t0 + k / rate - now()
            if delay > 0:
                await asyncio.sleep(delay)
            await watch.send(k % n, f"{watch.run}-p-{k}", f"bench {k}")
    except ConnectionClosed:
        pass
    sent_for = now() - t0
    result = await watch.finish(sent_for, drain=drain, rate=round(rate, 1), senders=n, sent=total)
    result["offered_per_s"] = round(total / sent_for, 1) if sent_for else None
    return result


# --- dedwen-only workloads -----------------------------------------------------------------------


def _logout(url: str, token: str) -> int:
    request = urllib.request.Request(url, method="POST", headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}, data=b"")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
    with opener.open(request, timeout=10) as response:
        return response.status


async def revocation(target: Target, *, world, timeout: float = 5.0) -> dict:
    """Log out (revoke) a device over REST while its socket is open; time until the socket closes."""
    latencies: list[float] = []
    codes: Counter[str] = Counter()
    user = world.pair(0)[0]
    loop = asyncio.get_running_loop()
    for token in target.revocation_tokens:
        conn = await open_authenticated(target, user, token=token)
        t0 = now()
        status = await loop.run_in_executor(None, _logout, f"{target.server.http_url}/api/auth/logout/", token)
        try:
            await asyncio.wait_for(asyncio.shield(conn.done), timeout)
            latencies.append(conn.closed_at - t0)
            codes[str(conn.close_code)] += 1
        except TimeoutError:
            codes["still open"] += 1
            await conn.close()
        if status != 204:
            codes[f"http {status}"] += 1
    return {"ops": len(latencies), "close_ms": percentiles(latencies), "close_codes": dict(codes), "cdf_ms": sample(latencies)}


# DEDWEN_PRESENCE_GRACE's default, which the bench servers run with: `offline` is announced only
# once a user's last socket has been gone this long (a reload announces nothing).
PRESENCE_GRACE = 5.0


async def presence_offline(target: Target, pairs: Pairs, *, world, count: int, timeout: float = PRESENCE_GRACE + 3.0) -> dict:
    """A user's only socket closes; time until a user who shares a conversation gets `presence` offline (the grace included)."""
    latencies: list[float] = []
    missed = 0
    for i in range(count):
        subject_user = world.pair(i)[0]
        subject_id = target.user_ids[subject_user]
        watcher = pairs.receivers[i]
        seen: list[tuple[str, float]] = []
        changed = asyncio.Event()

        def on_frame(text: str, t: float, seen=seen, changed=changed, subject_id=subject_id) -> None:
            if '"presence"' in text:
                data = json.loads(text).get("data") or {}
                if data.get("user_id") == subject_id:
                    seen.append((data.get("status"), t))
                    changed.set()

        async def status_after(status: str, since: float) -> float | None:
            deadline = now() + timeout
            while True:
                for got, t in seen:
                    if got == status and t >= since:
                        return t
                changed.clear()
                try:
                    await asyncio.wait_for(changed.wait(), max(0.0, deadline - now()))
                except TimeoutError:
                    return None

        watcher.on_frame = on_frame
        t_close = now()
        await pairs.senders[i].close()  # the pair's long-lived socket would keep the subject online
        await status_after("offline", t_close)
        t_open = now()
        conn = await open_authenticated(target, subject_user)
        await status_after("online", t_open)
        t0 = now()
        await conn.close()
        t = await status_after("offline", t0)
        if t is None:
            missed += 1
        else:
            latencies.append(t - t0)
        watcher.on_frame = None
        pairs.senders[i] = await open_authenticated(target, subject_user)
    return {"ops": len(latencies), "missed": missed, "offline_ms": percentiles(latencies), "cdf_ms": sample(latencies)}
