"""Run the benchmark suite: start each server pinned to one core, drive it from this process on the other.

usage: python -m bench.run [--profile full|quick|tiny] [--servers R,B,...] [--out bench/results]

Servers: R (raw websockets), D (the same relay as a plain ASGI app under daphne), B (bare Channels, in-memory layer), B-redis (core RedisChannelLayer),
B-pubsub (RedisPubSubChannelLayer), B-chat (the tutorial chat consumer made persistent: SQLite +
in-memory layer), B-chat-redis (the same on PostgreSQL + RedisPubSubChannelLayer), dedwen (embedded:
SQLite + in-process layer), dedwen-redis (PostgreSQL + Redis), dedwen-uvicorn (embedded, served by
uvicorn instead of daphne). They run in this order whatever --servers says: a dedwen configuration's
paced message workload runs at half the max rate its B-chat family measured earlier in the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench import client, launch, world as worlds
from bench.client import Target

REPO = launch.REPO
PY = str(launch.VENV_BIN / "python")
DAPHNE = str(launch.VENV_BIN / "daphne")
UVICORN = str(launch.VENV_BIN / "uvicorn")
# Where a run keeps its files, database and Redis keys; the environment can move them so that runs
# beside other work are isolated (BENCH_DIR, BENCH_PG_DB, BENCH_REDIS_URL, BENCH_REDIS_PREFIX).
SQLITE_DIR = Path(os.environ.get("BENCH_DIR", "/tmp/dedwen-bench"))
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/6")
REDIS_PREFIX = os.environ.get("BENCH_REDIS_PREFIX", "bench")
PG_DB = os.environ.get("BENCH_PG_DB", "dedwen_bench")
PG_URL = f"postgres://postgres@127.0.0.1:5432/{PG_DB}"
ALL_SERVERS = ["R", "D", "B", "B-redis", "B-pubsub", "B-chat", "B-chat-redis", "dedwen", "dedwen-redis", "dedwen-uvicorn"]
DEFAULT_SERVERS = ALL_SERVERS
# The B-chat server whose max message rate sets each server's paced message workload (at half of it).
PACED_BY = {"B-chat": "B-chat", "B-chat-redis": "B-chat-redis", "dedwen": "B-chat", "dedwen-redis": "B-chat-redis", "dedwen-uvicorn": "B-chat"}
# The message workloads whose acks/s is a server's max rate (the larger of the two).
MAX_RATE_KEYS = ("message_max", "message_senders")


@dataclass(frozen=True)
class Profile:
    """Counts and durations of one run of the suite."""

    world: dict
    connect: int = 2000
    concurrency: int = 50
    idle: tuple[int, ...] = (1000, 5000, 10000)
    idle_relay_at: int = 5000
    relay_rates: tuple[int, ...] = (500, 1000)
    relay_idle_rate: int = 500
    relay_seconds: float = 3.0
    max_seconds: float = 3.0
    fanout_events: dict = None  # members -> events
    flood_per_pair: int = 300
    burst: int = 100
    message_seconds: float = 3.0
    message_in_flight: int = 10  # message_senders: in flight per sending pair
    revocations: int = 10
    presence: int = 10


PROFILES = {
    "full": Profile(world={}, fanout_events={100: 20, 1000: 10}),
    "quick": Profile(
        world={"idle_users": 1000, "fanout_members": 300},
        connect=300,
        idle=(300, 600),
        idle_relay_at=600,
        relay_seconds=1.5,
        max_seconds=1.5,
        fanout_events={100: 5, 300: 3},
        flood_per_pair=50,
        burst=50,
        message_seconds=1.5,
        revocations=3,
        presence=3,
    ),
    "tiny": Profile(
        world={"idle_users": 100, "pairs": 4, "fanout_members": 20, "fanout_small": 10, "revocations": 1},
        connect=40,
        concurrency=10,
        idle=(50,),
        idle_relay_at=50,
        relay_rates=(200,),
        relay_idle_rate=200,
        relay_seconds=0.5,
        max_seconds=0.5,
        fanout_events={10: 3, 20: 2},
        flood_per_pair=25,
        burst=10,
        message_seconds=0.5,
        revocations=1,
        presence=1,
    ),
}

# Which workloads each server runs (dedwen-only ones need presence or revocation; "message" is the
# four message workloads: single, max, senders, paced).
PLANS = {
    "R": ["connect", "relay", "fanout", "flood", "burst", "idle"],
    "D": ["connect", "relay"],
    "B": ["connect", "relay", "fanout", "flood", "burst", "idle"],
    "B-redis": ["connect", "relay", "fanout", "flood", "burst"],
    "B-pubsub": ["relay", "fanout", "flood"],
    "B-chat": ["connect", "message"],
    "B-chat-redis": ["connect", "message"],
    "dedwen": ["connect", "relay", "fanout", "flood", "burst", "message", "revocation", "presence", "idle"],
    "dedwen-redis": ["connect", "relay", "fanout", "flood", "burst", "message", "revocation", "presence", "idle"],
    "dedwen-uvicorn": ["connect", "relay", "fanout", "flood", "burst", "message", "revocation", "presence", "idle"],
}

DEDWEN_ENV = {
    "DJANGO_SETTINGS_MODULE": "dedwen.settings",
    "DEDWEN_DEBUG": "0",
    "DEDWEN_HTTPS": "0",
    "DEDWEN_SECRET_KEY": "bench-only-secret-key-not-for-production-0000000000000000000000000",
    "DEDWEN_JWT_SIGNING_KEY": "bench-only-jwt-signing-key-not-for-production-00000",
    "DEDWEN_ACCESS_TOKEN_LIFETIME": "3600",
    # The benchmark measures the path, not the per-socket limiter: lift the frame budget.
    "DEDWEN_WS_RATE": "1000000/1000000",
    "DEDWEN_LOG_LEVEL": "WARNING",
}


def dedwen_env(name: str) -> dict[str, str]:
    if name == "dedwen-redis":
        return {**DEDWEN_ENV, "DATABASE_URL": PG_URL, "REDIS_URL": REDIS_URL, "DEDWEN_REDIS_PREFIX": REDIS_PREFIX}
    SQLITE_DIR.mkdir(parents=True, exist_ok=True)
    return {**DEDWEN_ENV, "DEDWEN_SQLITE_PATH": str(SQLITE_DIR / "db.sqlite3")}


def clean_env() -> dict[str, str]:
    """The client's environment minus anything that would point a server at another database or Redis."""
    for key in ("DATABASE_URL", "REDIS_URL", "DEDWEN_REDIS_PREFIX", "DEDWEN_SQLITE_PATH"):
        os.environ.pop(key, None)
    return {}


def needs_clean_redis(name: str) -> bool:
    """Tell whether the suite clears its Redis keys before starting this server: every B- variant and dedwen-redis."""
    return name.startswith(("B-", "dedwen-redis"))


def flush_redis() -> None:
    """Forget this suite's keys (REDIS_URL's database, REDIS_PREFIX) from a previous run."""
    import redis

    conn = redis.Redis.from_url(REDIS_URL)
    keys = list(conn.scan_iter(f"{REDIS_PREFIX}*", count=1000))
    for i in range(0, len(keys), 1000):
        conn.delete(*keys[i : i + 1000])
    conn.close()


def ensure_pg_database(name: str = PG_DB) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def chat_env(name: str, work: Path) -> dict[str, str]:
    """B-chat's settings: SQLite (a fresh file per run) or PostgreSQL (BENCH_PG_DB + "_chat").

    Stock SQLite syncs every commit to disk (rollback journal, synchronous=FULL), so B-chat's embedded
    rate follows the disk's fsync latency (and the other I/O on the machine), not its CPU.
    BENCH_CHAT_SQLITE_DIR (e.g. /dev/shm) moves its file elsewhere to measure it without the disk.
    """
    env = {"DJANGO_SETTINGS_MODULE": "bench.chat.settings", "BENCH_REDIS_URL": REDIS_URL, "BENCH_REDIS_PREFIX": REDIS_PREFIX}
    if name == "B-chat-redis":
        return {**env, "BENCH_CHAT_PG_DB": f"{PG_DB}_chat"}
    directory = Path(os.environ.get("BENCH_CHAT_SQLITE_DIR") or work)
    directory.mkdir(parents=True, exist_ok=True)
    return {**env, "BENCH_CHAT_SQLITE": str(directory / "chat.sqlite3")}


def migrate_chat(name: str, work: Path) -> None:
    """Create B-chat's database and its one table, as `manage.py migrate` would."""
    env = chat_env(name, work)
    if "BENCH_CHAT_PG_DB" in env:
        ensure_pg_database(env["BENCH_CHAT_PG_DB"])
    else:  # a fresh SQLite file each run, wherever it lives
        for stale in Path(env["BENCH_CHAT_SQLITE"]).parent.glob("chat.sqlite3*"):
            stale.unlink()
    subprocess.run([PY, "-m", "django", "migrate", "--verbosity", "0"], cwd=REPO, env={**os.environ, **env}, check=True)


def seed_dedwen(name: str, world_path: Path, out: Path) -> dict:
    """Create the world's users, devices and conversations through dedwen's services; return its credentials."""
    if name == "dedwen-redis":
        ensure_pg_database()
    else:  # a fresh SQLite file for each embedded server, as B-chat's: what earlier runs wrote is not measured
        for stale in SQLITE_DIR.glob("db.sqlite3*"):
            stale.unlink()
    env = {**os.environ, **dedwen_env(name)}
    t0 = time.monotonic()
    subprocess.run([PY, "-m", "bench.seed", str(world_path), str(out)], cwd=REPO, env=env, check=True)
    print(f"   seeded {name} in {time.monotonic() - t0:.1f}s", flush=True)
    return json.loads(out.read_text())


def start_server(name: str, port: int, world_path: Path, log_dir: Path) -> launch.Server:
    if name == "R":
        argv, env = [PY, "-m", "bench.servers.raw", str(port), str(world_path)], {}
    elif name == "D":
        argv, env = [DAPHNE, "-b", "127.0.0.1", "-p", str(port), "bench.servers.asgi:application"], {"BENCH_WORLD": str(world_path)}
    elif name.startswith("B-chat"):
        argv = [DAPHNE, "-b", "127.0.0.1", "-p", str(port), "bench.chat.asgi:application"]
        env = {**chat_env(name, world_path.parent), "BENCH_WORLD": str(world_path)}
    elif name.startswith("B"):
        layer = {"B": "memory", "B-redis": "redis", "B-pubsub": "pubsub"}[name]
        argv = [DAPHNE, "-b", "127.0.0.1", "-p", str(port), "bench.bare.asgi:application"]
        env = {"DJANGO_SETTINGS_MODULE": "bench.bare.settings", "BENCH_LAYER": layer, "BENCH_WORLD": str(world_path),
               "BENCH_REDIS_URL": REDIS_URL, "BENCH_REDIS_PREFIX": REDIS_PREFIX}
    elif name == "dedwen-uvicorn":
        argv = [UVICORN, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log", "dedwen.asgi:application"]
        env = dedwen_env(name)
    else:
        argv = [DAPHNE, "-b", "127.0.0.1", "-p", str(port), "dedwen.asgi:application"]
        env = dedwen_env(name)
    return launch.start(name, argv, env=env, log_dir=log_dir, port=port)


def target_for(name: str, server: launch.Server, world: worlds.World, creds: dict | None) -> Target:
    if creds is None:
        ids = list(range(1, world.user_count + 1))
        tokens = [worlds.bench_token(uid) for uid in ids]
        return Target(name, server, tokens, ids, {cid: cid + 1 for cid in world.conversations})
    return Target(
        name,
        server,
        creds["tokens"],
        creds["user_ids"],
        {int(k): v for k, v in creds["conversations"].items()},
        revocation_tokens=creds["revocation_tokens"],
        dedwen=True,
    )


def max_message_rate(result: dict | None) -> float | None:
    """A server's max persisted-send rate: the best acks/s of its closed-loop message workloads."""
    rates = [((result or {}).get(key) or {}).get("acks_per_s") for key in MAX_RATE_KEYS]
    rates = [r for r in rates if r]
    return max(rates) if rates else None


async def after_closes(target: Target, server: launch.Server) -> None:
    """After a workload that closed many sockets: on dedwen, wait out the presence grace, then settle.

    Their users go offline only once the grace has passed; without the wait, the next workload
    would measure their offline announcements (the relay tail, the idle workload's connects).
    """
    if target.dedwen:
        await asyncio.sleep(client.PRESENCE_GRACE + 1.0)
        await client.settle(server, limit=30)


async def run_server(
    name: str,
    target: Target,
    world: worlds.World,
    prof: Profile,
    log,
    spy_dir: Path | None = None,
    only: set[str] | None = None,
    paced_base: float | None = None,
) -> dict:
    """Run this server's plan; every workload is bounded and a failing one is recorded, not fatal.

    paced_base is the max message rate of this server's B-chat family measured earlier in the run
    (None when it was not): message_paced runs at half of it.
    """
    plan = [w for w in PLANS[name] if only is None or w in only]
    server = target.server
    out: dict = {}

    def spy(server, key: str):
        """Start recording the server with py-spy for one workload, when asked to (`--py-spy`, dedwen servers only)."""
        if spy_dir is None or not name.startswith("dedwen"):
            return None
        from bench import profile

        return profile.Recording(server.process.pid, spy_dir / f"{name}-{key}.txt")

    async def step(key: str, coro_factory):
        if not server.alive():
            out[key] = {"error": "server exited"}
            return
        t0 = time.monotonic()
        recording = spy(server, key)
        try:
            out[key] = await asyncio.wait_for(coro_factory(), 240)
        except Exception as exc:  # noqa: BLE001 - one broken workload must not hide the others
            out[key] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        if recording is not None:
            out[key]["profile"] = recording.stop()
        log(f"   {name:<15} {key:<22} {time.monotonic() - t0:5.1f}s  {summary(out[key])}")

    if "connect" in plan:
        await step("connect", lambda: client.measured(server, client.connect_auth(target, count=prof.connect, concurrency=prof.concurrency, limit=40)))
        await after_closes(target, server)
    pairs = await client.open_pairs(target, world, world.pairs)
    if "relay" in plan:
        for rate in prof.relay_rates:
            await step(f"relay_{rate}", lambda rate=rate: client.measured(server, client.relay(pairs, rate=rate, duration=prof.relay_seconds)))
        await step("relay_max", lambda: client.measured(server, client.relay(pairs, rate=None, duration=prof.max_seconds)))
    if "message" in plan:
        await step("message_single", lambda: client.measured(server, client.message_send(pairs, in_flight_pairs=1, duration=prof.message_seconds)))
        await step("message_max", lambda: client.measured(server, client.message_send(pairs, in_flight_pairs=world.pairs, duration=prof.message_seconds)))
        await step(
            "message_senders",
            lambda: client.measured(
                server, client.message_send(pairs, in_flight_pairs=world.pairs, in_flight=prof.message_in_flight, duration=prof.message_seconds)
            ),
        )
        if PACED_BY.get(name) == name:  # a B-chat server: half of what it just measured
            paced_base = max_message_rate(out)
        if paced_base:
            rate = paced_base / 2
            await step("message_paced", lambda: client.measured(server, client.message_paced(pairs, rate=rate, duration=prof.message_seconds)))
            out["message_paced"]["paced_by"] = PACED_BY[name]
        else:
            out["message_paced"] = {"error": f"not run: {PACED_BY.get(name)} measured no max rate earlier in this run"}
    if "fanout" in plan:
        t_open, cpu_open, client_cpu_open, busy_open = time.monotonic(), server.cpu(), time.process_time(), launch.cores_busy()
        recording = spy(server, "fanout_setup")
        members, failed = await client.open_many(target, [world.fanout_user(i) for i in range(world.fanout_members)], concurrency=10, limit=45)
        await client.settle(server, limit=60)
        # Opening the members is not a measured workload, but on dedwen each join announces presence
        # to every other member (N joins -> N^2 presence frames): its time and failures are recorded.
        out["fanout_setup"] = {
            "members": len(members),
            "seconds": round(time.monotonic() - t_open, 1),
            "server_cpu_s": round(server.cpu() - cpu_open, 1),
            # The load client reads every frame the server writes: its own CPU bounds the open too.
            "client_cpu_s": round(time.process_time() - client_cpu_open, 1),
            # The client's core also runs PostgreSQL and Redis: when it is the busy one, the server waits.
            "cores_busy": launch.busy_shares(busy_open, time.monotonic() - t_open),
            "failures": dict(failed),
        }
        log(f"   {name:<15} {'fanout members open':<22} {out['fanout_setup']['seconds']:5.1f}s  {out['fanout_setup']}")
        if recording is not None:
            out["fanout_setup"]["profile"] = recording.stop()
        for size, events in sorted(prof.fanout_events.items()):
            conv = world.fanout_small_conversation if size == world.fanout_small else world.fanout_conversation
            await step(
                f"fanout_{size}",
                lambda size=size, events=events, conv=conv: client.measured(
                    server, client.fanout(members, conversation_id=target.conversations[conv], size=min(size, len(members)), events=events)
                ),
            )
        await client.close_all(members)
    if "presence" in plan:
        await step("presence_offline", lambda: client.measured(server, client.presence_offline(target, pairs, world=world, count=min(prof.presence, world.pairs))))
    if "revocation" in plan:
        await step("revocation", lambda: client.measured(server, client.revocation(target, world=world)))
    await client.close_all(pairs.all)
    if "flood" in plan:
        await step("flood", lambda: client.measured(server, client.flood(target, world, pairs=world.pairs, per_pair=prof.flood_per_pair)))
    if "burst" in plan:
        await step("burst", lambda: client.measured(server, client.burst(target, users=list(range(prof.burst)))))
    if "idle" in plan:
        await after_closes(target, server)

        async def idle():
            extra = {}

            async def at_checkpoint(n: int, held: int | None = None) -> None:
                if n == prof.idle_relay_at and "relay" in plan:
                    p = await client.open_pairs(target, world, world.pairs)
                    extra[f"relay_{prof.relay_idle_rate}_idle"] = await client.measured(
                        server, client.relay(p, rate=prof.relay_idle_rate, duration=prof.relay_seconds)
                    )
                    extra[f"relay_{prof.relay_idle_rate}_idle"]["idle_sockets"] = n if held is None else held
                    await client.close_all(p.all)

            result, conns = await client.ramp_idle(target, checkpoints=list(prof.idle), concurrency=prof.concurrency, at_checkpoint=at_checkpoint, limit=70)
            if not extra and conns and "relay" in plan:  # the ramp stopped short: measure with what it holds
                await at_checkpoint(prof.idle_relay_at, held=len(conns))
            for conn in conns:
                conn.abort()
            await client.settle(server, limit=30)
            result.update(extra)
            return result

        await step("idle", idle)
        if "idle" in out and f"relay_{prof.relay_idle_rate}_idle" in out["idle"]:
            out[f"relay_{prof.relay_idle_rate}_idle"] = out["idle"].pop(f"relay_{prof.relay_idle_rate}_idle")
    out["server_alive_at_end"] = server.alive()
    return out


# The servers the connect and relay goals compare (and daphne's floor), measured again back to back
# after the suite, ROUNDS times, in alternating order. A connect or relay workload lasts a few
# seconds, and servers measured minutes apart on a machine whose speed drifts gave ratios from
# 0.55× to 1.63× for the same code (docs/performance.md). The report judges those goals on the
# rounds. Each server runs the connect workload, then R, D and dedwen the relay at the top paced
# rate, as in the suite, after one unmeasured frame per pair (in the suite the relay at 500/s comes
# first: a dedwen server reads a conversation's participants on its first frame and keeps them).
ROUND_SERVERS = ["R", "D", "B", "dedwen", "B-redis", "dedwen-redis"]
ROUNDS = 3


def rounds(names: list[str], world: worlds.World, world_path: Path, prof: Profile, seeded: dict[str, dict], log_dir: Path, log) -> list[dict]:
    """Measure each server's connect and relay workloads ROUNDS times, one server after another, forward then backward."""
    measured_rounds = []
    for number in range(ROUNDS):
        order = names if number % 2 == 0 else names[::-1]
        log(f"==> round {number + 1} of {ROUNDS}: {', '.join(order)}")
        measured: dict[str, dict] = {}
        for name in order:
            creds = seeded.get("postgresql" if name == "dedwen-redis" else "sqlite") if name.startswith("dedwen") else None
            if name.startswith("dedwen") and creds is None:
                continue
            if needs_clean_redis(name):
                flush_redis()
            try:
                server = start_server(name, launch.free_port(), world_path, log_dir / f"round-{number + 1}")
            except Exception as exc:  # noqa: BLE001
                measured[name] = {"error": f"could not start: {exc}"[:2000]}
                continue
            try:
                out = asyncio.run(_round(name, target_for(name, server, world, creds), world, prof, server))
            except Exception as exc:  # noqa: BLE001
                out = {"error": f"{type(exc).__name__}: {exc}"[:300]}
            finally:
                server.stop()
            out["log_errors"] = log_errors(server.log_path)
            measured[name] = out
            for key, result in out.items():
                if isinstance(result, dict):
                    log(f"   {name:<15} {key:<22} {summary(result)}")
        measured_rounds.append(measured)
    return measured_rounds


async def _round(name: str, target: Target, world: worlds.World, prof: Profile, server: launch.Server) -> dict:
    """One server's part of a round: the connect workload, then the relay at the top paced rate (without their CDFs)."""
    out = {"connect": await client.measured(server, client.connect_auth(target, count=prof.connect, concurrency=prof.concurrency, limit=40))}
    if "relay" in PLANS[name] and not name.startswith("B"):  # the relay p99 goal compares dedwen with R (and D)
        await after_closes(target, server)
        pairs = await client.open_pairs(target, world, world.pairs)
        await client.warm_up(pairs)  # as the suite's relay at 1,000/s follows its relay at 500/s
        top = max(prof.relay_rates)
        out[f"relay_{top}"] = await client.measured(server, client.relay(pairs, rate=top, duration=prof.relay_seconds))
    for result in out.values():
        result.pop("cdf_ms", None)
    return out


def summary(result: dict) -> str:
    if "error" in result:
        return "ERROR " + result["error"]
    parts = []
    for key in ("rate", "per_s", "delivered_per_s", "deliveries_per_s", "acks_per_s", "authenticated", "held", "lost", "dropped", "missing", "unacked", "undelivered", "errors", "failures", "abnormal_closes"):
        if key in result and result[key] not in ({}, None):
            parts.append(f"{key}={result[key]}")
    for key in ("latency_ms", "last_recipient_ms", "ack_ms", "delivery_ms", "close_ms", "offline_ms"):
        if key in result and result[key].get("p50") is not None:
            parts.append(f"{key} p50={result[key]['p50']:.1f} p99={result[key]['p99']:.1f}")
    if result.get("server_cpu_us_per_op"):
        parts.append(f"cpu/op={result['server_cpu_us_per_op']}us")
    return " ".join(parts)


def log_errors(path: Path) -> int:
    """Count the errors a server logged: ERROR/CRITICAL lines, or bare tracebacks if there are more of those."""
    lines = path.read_text(errors="replace").splitlines()
    marked = sum(1 for line in lines if "ERROR" in line or "CRITICAL" in line)
    return max(marked, sum(1 for line in lines if line.startswith("Traceback (most recent call last)")))


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def versions() -> dict:
    from importlib.metadata import version

    out = {}
    for name in ("django", "channels", "channels-redis", "daphne", "twisted", "websockets", "uvicorn", "redis", "psycopg"):
        try:
            out[name] = version(name)
        except Exception:  # noqa: BLE001
            out[name] = None
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full")
    parser.add_argument("--servers", default=",".join(DEFAULT_SERVERS))
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    parser.add_argument("--py-spy", metavar="DIR", help="sample the dedwen servers with py-spy during each workload (slows them)")
    parser.add_argument("--dedwen-settings", metavar="MODULE", help="serve dedwen with another settings module (a variant to measure)")
    parser.add_argument("--only", help="comma-separated workloads to run (connect,relay,message,fanout,presence,revocation,flood,burst,idle)")
    parser.add_argument("--no-report", action="store_true", help="write latest.json only (no Markdown, no plot)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.servers.split(",") if n.strip()]
    unknown = set(names) - set(ALL_SERVERS)
    if unknown:
        parser.error(f"unknown servers: {', '.join(sorted(unknown))}")
    names = sorted(set(names), key=ALL_SERVERS.index)  # B-chat before dedwen: the paced rate comes from it
    prof = PROFILES[args.profile]
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = SQLITE_DIR / "run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    clean_env()
    only = set(args.only.split(",")) if args.only else None
    if args.dedwen_settings:
        DEDWEN_ENV["DJANGO_SETTINGS_MODULE"] = args.dedwen_settings
    nofile = launch.raise_nofile()
    pinned = launch.pin_client()
    world = worlds.build(**prof.world)
    world_path = work / "world.json"
    worlds.save(world, world_path)

    def log(text: str) -> None:
        print(text, flush=True)

    results = {
        "profile": args.profile,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "versions": versions(),
        "pinned": {"server_core": launch.SERVER_CORE, "client_core": launch.CLIENT_CORE} if pinned else None,
        "nofile": nofile,
        "world": {k: v for k, v in world.__dict__.items() if k != "conversations"},
        "servers": {},
    }
    log(f"==> profile {args.profile}; servers {', '.join(names)}; open files {nofile}; pinned={pinned}")
    suite_t0 = time.monotonic()
    seeded: dict[str, dict] = {}  # the credentials of each dedwen database as last seeded: "sqlite", "postgresql"
    for name in names:
        t0 = time.monotonic()
        log(f"==> {name}")
        creds = None
        try:
            if needs_clean_redis(name):
                flush_redis()
            if name.startswith("dedwen"):
                creds = seed_dedwen(name, world_path, work / f"{name}-creds.json")
                seeded["postgresql" if name == "dedwen-redis" else "sqlite"] = creds
            if name.startswith("B-chat"):
                migrate_chat(name, work)
            server = start_server(name, launch.free_port(), world_path, work / "logs")
        except Exception as exc:  # noqa: BLE001
            results["servers"][name] = {"error": f"could not start: {exc}"[:2000]}
            log(f"   {name}: could not start: {exc}")
            continue
        try:
            target = target_for(name, server, world, creds)
            spy = Path(args.py_spy) if args.py_spy else None
            base = max_message_rate(results["servers"].get(PACED_BY.get(name, "")))
            results["servers"][name] = asyncio.run(run_server(name, target, world, prof, log, spy, only, paced_base=base))
        except Exception as exc:  # noqa: BLE001
            results["servers"][name] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
            log(f"   {name}: {type(exc).__name__}: {exc}")
        finally:
            server.stop()
            results["servers"].setdefault(name, {})["log_tail"] = server.log_tail(1500)
            results["servers"][name]["log_errors"] = log_errors(server.log_path)
        results["servers"][name]["wall_s"] = round(time.monotonic() - t0, 1)
    again = [name for name in ROUND_SERVERS if name in names and (only is None or {"connect", "relay"} <= only)]
    if any(name.startswith("dedwen") for name in again):
        results["rounds"] = rounds(again, world, world_path, prof, seeded, work / "logs", log)
    results["wall_s"] = round(time.monotonic() - suite_t0, 1)
    (out_dir / "latest.json").write_text(json.dumps(results, indent=1))
    log(f"==> wrote {out_dir / 'latest.json'} in {results['wall_s']}s")
    if not args.no_report:
        from bench import report

        report.write(results, out_dir)
        log(f"==> wrote {out_dir / 'latest.md'} and {out_dir / 'latest.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
