"""Server memory during a fan-out to 100 readers that read, to 100 that stall, and to 100 that stall with no bound.

usage: python -m bench.slow_readers [--readers 100] [--messages 250] [--body 32000]

Each run starts its own daphne (embedded: SQLite + in-process layer) on a fresh database, opens a
group conversation of one sender and `--readers` members, connects each member's socket (a reading
websockets client, or a raw socket with a 4 KiB receive buffer that never reads), then the sender
posts `--messages` messages of `--body` characters over its socket, one ack at a time (about 8 MB
per member by default: past the 4 MiB a Linux kernel may buffer per socket, which the RSS does not
show and DEDWEN_WS_SEND_BUFFER does not count). The daphne
process's RSS is sampled after every ack and once the sockets have settled; the figures are
printed as JSON and a Markdown table (docs/performance.md). Runs:

- read: every member reads (the baseline);
- stall: every member stalls, DEDWEN_WS_SEND_BUFFER at its default (1 MiB): each is closed 4409;
- stall, no bound: the same with DEDWEN_WS_SEND_BUFFER at 1 GiB, i.e. what happened before 4409.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
SETTLE_SECONDS = 8.0  # past SLOW_READER_CLOSE_SECONDS: stalled sockets are aborted and freed by then
# The settings both this process (which mints the tokens) and the server run with: production mode
# (no DEBUG query log growing the RSS), plain HTTP, one shared key.
ENV = {
    "DJANGO_SETTINGS_MODULE": "dedwen.settings",
    "DEDWEN_DEBUG": "0",
    "DEDWEN_HTTPS": "0",
    "DEDWEN_SECRET_KEY": "bench-slow-readers-secret-key-0123456789abcdef-0123456789",
    "DEDWEN_ACCESS_TOKEN_LIFETIME": "3600",
}


def seed(db_path: Path, readers: int) -> dict:
    """Create the sender, the readers and their group conversation; return ids and access tokens."""
    os.environ.update(ENV, DEDWEN_SQLITE_PATH=str(db_path))
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from accounts.models import Device
    from accounts.tokens import mint_access_token
    from messaging import services

    User = get_user_model()
    unusable = make_password(None)
    users = User.objects.bulk_create([User(username=f"slow{i}", password=unusable) for i in range(readers + 1)])
    users = list(User.objects.filter(username__startswith="slow").order_by("pk"))
    devices = Device.objects.bulk_create([Device(user_id=u.pk, client_id="bench", user_agent="bench") for u in users])
    devices = list(Device.objects.filter(client_id="bench").order_by("user_id"))
    conversation = services.create_conversation(
        creator=users[0], participant_ids=[u.pk for u in users[1:]], title="slow readers"
    ).conversation
    return {"conversation": conversation.pk, "tokens": [str(mint_access_token(d)) for d in devices]}


def run(mode: str, *, db_dir: Path, readers: int, messages: int, body: int, seeded: dict) -> dict:
    """Start daphne, connect the members, fan out, and return the RSS figures of one run."""
    from websockets.sync.client import connect

    from tests.support.server import send_text_frame, stalled_socket, start_daphne

    env = {
        key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL"}
    } | ENV | {
        "PYTHONUNBUFFERED": "1",
        "DEDWEN_SQLITE_PATH": str(db_dir / "db.sqlite3"),
        "DEDWEN_MESSAGE_MAX_LENGTH": str(body),
        "DEDWEN_WS_RATE": "100000/100000",
    }
    if mode == "stall, no bound":
        env["DEDWEN_WS_SEND_BUFFER"] = str(1 << 30)
    server = start_daphne(env=env, log_path=db_dir / f"daphne-{mode.replace(' ', '').replace(',', '-')}.log")
    process = psutil.Process(server.process.pid)
    members = []
    try:
        for token in seeded["tokens"][1:]:
            hello = json.dumps({"type": "authenticate", "data": {"token": token}})
            if mode == "read":
                ws = connect(server.ws_url, max_size=None, max_queue=None, open_timeout=10)  # its thread reads everything
                ws.send(hello)
            else:
                ws = stalled_socket(server)
                send_text_frame(ws, hello)
            members.append(ws)
        server.wait_for_log("authenticated and connected", count=readers, timeout=60)
        time.sleep(1.0)  # let presence announcements settle before the baseline
        baseline = process.memory_info().rss
        peak = baseline
        text = "x" * body
        started = time.monotonic()
        with connect(server.ws_url, max_size=None, open_timeout=10) as sender:
            sender.send(json.dumps({"type": "authenticate", "data": {"token": seeded["tokens"][0]}}))
            for n in range(messages):
                sender.send(json.dumps({"type": "message.send", "ref": str(n),  # a client_id per run: no idempotent replay
                                        "data": {"conversation_id": seeded["conversation"], "body": text, "client_id": f"{mode}-{n}"}}))
                while json.loads(sender.recv(timeout=30)).get("type") != "ack":
                    pass
                peak = max(peak, process.memory_info().rss)
            seconds = time.monotonic() - started
            time.sleep(SETTLE_SECONDS)
            settled = process.memory_info().rss
        log = server.log()
        return {
            "mode": mode,
            "baseline_mib": round(baseline / 2**20, 1),
            "peak_growth_mib": round((peak - baseline) / 2**20, 1),
            "settled_growth_mib": round((settled - baseline) / 2**20, 1),
            "closed_4409": log.count("Closing a slow reader with 4409"),
            "fanout_seconds": round(seconds, 1),
            "queued_per_reader_mib": round(messages * body / 2**20, 1),
        }
    finally:
        for ws in members:
            ws.close()
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=100)
    parser.add_argument("--messages", type=int, default=250)
    parser.add_argument("--body", type=int, default=32000)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    results = []
    with tempfile.TemporaryDirectory(prefix="dedwen-slow-readers-") as tmp:
        db_dir = Path(tmp)
        seeded = seed(db_dir / "db.sqlite3", args.readers)
        for mode in ("read", "stall", "stall, no bound"):
            results.append(run(mode, db_dir=db_dir, readers=args.readers, messages=args.messages, body=args.body, seeded=seeded))
            print(json.dumps(results[-1]), flush=True)
    print(f"\n{args.readers} members, {args.messages} messages of {args.body} characters each\n")
    print("| members | RSS before | peak growth | growth after settling | closed 4409 | fan-out time |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['mode']} | {r['baseline_mib']} MiB | {r['peak_growth_mib']} MiB | {r['settled_growth_mib']} MiB"
              f" | {r['closed_4409']} | {r['fanout_seconds']} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
