"""Turn bench/results/latest.json into a Markdown table of goals and figures, and a PNG plot.

usage: python -m bench.report [RESULTS_DIR]   (reads latest.json there, writes latest.md and latest.png)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

DEDWEN = ["dedwen", "dedwen-redis", "dedwen-uvicorn"]
ORDER = ["R", "B", "B-redis", "B-pubsub", "dedwen", "dedwen-redis", "dedwen-uvicorn"]


def _get(results: dict, server: str, *path):
    node = results.get("servers", {}).get(server)
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _ratio(a, b):
    if a is None or b in (None, 0):
        return None
    return a / b


def _point(results: dict, server: str, sockets: int, key: str):
    for point in _get(results, server, "idle", "points") or []:
        if point["sockets"] == sockets:
            return point[key]
    return None


def baseline(server: str) -> str:
    """The bare-Channels server a dedwen configuration is compared with."""
    return "B-redis" if server == "dedwen-redis" else "B"


def _clean(result: dict | None, *, base: str | None) -> tuple[bool | None, str]:
    """Whether a flood/burst result had no drop, no failure and no abnormal close, and what it saw."""
    if not isinstance(result, dict) or "error" in result:
        return None, (result or {}).get("error", "not run") if isinstance(result, dict) else "not run"
    dropped = result.get("dropped", 0) or 0
    failures = sum((result.get("failures") or {}).values())
    closes = result.get("abnormal_closes") or {}
    seen = f"dropped {dropped}, failures {failures}, abnormal closes {closes or 0}"
    return dropped == 0 and failures == 0 and not closes, seen


def goals(results: dict, server: str) -> list[dict]:
    """Every goal of issue 7 for one dedwen configuration: measured value, target, met."""
    b = baseline(server)
    rows = []

    def row(goal, what, value, target, met, fmt="{:.2f}"):
        shown = "–" if value is None else (fmt.format(value) if isinstance(value, (int, float)) else str(value))
        rows.append({"goal": goal, "what": what, "value": shown, "target": target, "met": met})

    def at_least(v, t):
        return None if v is None else v >= t

    def at_most(v, t):
        return None if v is None else v <= t

    v = _ratio(_get(results, server, "connect", "per_s"), _get(results, b, "connect", "per_s"))
    row("G1", f"connects/s vs {b}", v, "≥ 2.0×", at_least(v, 2.0))
    v = _ratio(_get(results, server, "connect", "server_cpu_us_per_op"), _get(results, "R", "connect", "server_cpu_us_per_op"))
    row("G1", "server CPU per connect vs R", v, "≤ 1.6×", at_most(v, 1.6))
    v = _get(results, server, "connect", "latency_ms", "p99")
    row("G1", "connect p99 (ms) at concurrency 50", v, "≤ 100", at_most(v, 100), "{:.1f}")
    goal_sockets = _get(results, server, "idle", "goal")
    v = _ratio(_point(results, server, goal_sockets, "kib_per_socket"), _point(results, "R", goal_sockets, "kib_per_socket"))
    row("G2", f"memory per idle socket at {goal_sockets} vs R", v, "≤ 1.9×", at_most(v, 1.9))
    held = _get(results, server, "idle", "held")
    row("G2", "idle sockets held in one process", held, f"{goal_sockets}", None if held is None else held >= (goal_sockets or 0), "{}")
    v = _get(results, server, "idle", "ramp_ratio_last_vs_first")
    row("G3", "ramp rate at the last 1k / at the first 1k", v, "≥ 0.8×", at_least(v, 0.8))
    sizes = sorted(int(k.split("_")[1]) for k in (results["servers"].get(server) or {}) if k.startswith("fanout_") and k[7:].isdigit())
    for size, target in zip(sizes, (4.0, 10.0)):
        v = _ratio(_get(results, server, f"fanout_{size}", "deliveries_per_s"), _get(results, b, f"fanout_{size}", "deliveries_per_s"))
        members = _get(results, server, f"fanout_{size}", "members")
        shown = f"{size}" if members in (None, size) else f"{size} (only {members} joined)"
        row("G4", f"fan-out {shown}: deliveries/s vs {b}", v, f"≥ {target:g}×", at_least(v, target))
        v = _ratio(_get(results, server, f"fanout_{size}", "last_recipient_ms", "p99"), _get(results, "R", f"fanout_{size}", "last_recipient_ms", "p99"))
        row("G4", f"fan-out {size}: last-recipient p99 vs R", v, "≤ 1.5×", at_most(v, 1.5))
    rates = sorted(int(k.split("_")[1]) for k in (results["servers"].get(server) or {}) if k.startswith("relay_") and k[6:].isdigit())
    if rates:
        top = rates[-1]
        v = _ratio(_get(results, server, f"relay_{top}", "latency_ms", "p99"), _get(results, "R", f"relay_{top}", "latency_ms", "p99"))
        row("G5", f"relay p99 at {top}/s vs R", v, "≤ 2×", at_most(v, 2.0))
    v = _ratio(_get(results, server, "relay_max", "delivered_per_s"), _get(results, b, "relay_max", "delivered_per_s"))
    target = 5.0 if b == "B-redis" else 2.5
    row("G6", f"relay max msgs/s vs {b}", v, f"≥ {target:g}×", at_least(v, target))
    idle_keys = [k for k in (results["servers"].get(server) or {}) if k.endswith("_idle")]
    if idle_keys:
        key = idle_keys[0]
        rate = key.split("_")[1]
        v = _ratio(_get(results, server, key, "latency_ms", "p99"), _get(results, server, f"relay_{rate}", "latency_ms", "p99"))
        n = _get(results, server, key, "idle_sockets")
        row("G7", f"relay p99 at {rate}/s with {n} idle / with none", v, "≤ 1.5×", at_most(v, 1.5))
    else:
        row("G7", "relay p99 with idle sockets / with none", None, "≤ 1.5×", None)
    for workload in ("flood", "burst"):
        met, seen = _clean(_get(results, server, workload), base=b)
        row("G8", f"{workload}: {seen}", "", "no drop, no 1011", met, "{}")
    acks = _get(results, server, "message_max", "acks_per_s")
    v = _ratio(acks, _get(results, server, "relay_max", "delivered_per_s"))
    db = "PostgreSQL" if server == "dedwen-redis" else "SQLite"
    row("msg", f"message.send ({db}) max acks/s vs relay max", v, "≥ 0.3× (aim)", at_least(v, 0.3))
    return rows


def _fmt(value, spec="{:.1f}"):
    return "–" if value is None else spec.format(value)


def _mark(met):
    return "✅" if met is True else ("❌" if met is False else "–")


def figures_table(results: dict) -> list[str]:
    servers = [s for s in ORDER if s in results.get("servers", {})]
    lines = ["| workload | figure | " + " | ".join(servers) + " |", "|---|---|" + "---|" * len(servers)]

    def line(label, figure, getter, spec="{:.1f}"):
        cells = [_fmt(getter(s), spec) for s in servers]
        if any(c != "–" for c in cells):
            lines.append(f"| {label} | {figure} | " + " | ".join(cells) + " |")

    g = lambda *path: (lambda s: _get(results, s, *path))  # noqa: E731
    line("connect + auth", "connects/s", g("connect", "per_s"))
    line("connect + auth", "p99 ms", g("connect", "latency_ms", "p99"))
    line("connect + auth", "server CPU µs/connect", g("connect", "server_cpu_us_per_op"), "{:.0f}")
    for key in sorted({k for s in servers for k in (results["servers"][s] or {}) if k.startswith("relay_")}, key=_relay_order):
        line(key.replace("_", " "), "delivered/s", g(key, "delivered_per_s"))
        line(key.replace("_", " "), "p50 ms", g(key, "latency_ms", "p50"), "{:.2f}")
        line(key.replace("_", " "), "p99 ms", g(key, "latency_ms", "p99"), "{:.2f}")
        line(key.replace("_", " "), "lost", g(key, "lost"), "{}")
        line(key.replace("_", " "), "server CPU µs/msg", g(key, "server_cpu_us_per_op"), "{:.0f}")
    for key in sorted({k for s in servers for k in (results["servers"][s] or {}) if k.startswith("fanout_") and k[7:].isdigit()}, key=lambda k: int(k.split("_")[1])):
        line(key.replace("_", " "), "deliveries/s", g(key, "deliveries_per_s"), "{:.0f}")
        line(key.replace("_", " "), "last recipient p50 ms", g(key, "last_recipient_ms", "p50"))
        line(key.replace("_", " "), "last recipient p99 ms", g(key, "last_recipient_ms", "p99"))
        line(key.replace("_", " "), "missing", g(key, "missing"), "{}")
        line(key.replace("_", " "), "server CPU µs/delivery", g(key, "server_cpu_us_per_op"), "{:.0f}")
    for key, label in (("message_single", "message.send, 1 in flight"), ("message_max", "message.send, 20 in flight")):
        line(label, "acks/s", g(key, "acks_per_s"))
        line(label, "ack p50 / p99 ms", lambda s, key=key: _pair(_get(results, s, key, "ack_ms")), "{}")
        line(label, "delivery p50 / p99 ms", lambda s, key=key: _pair(_get(results, s, key, "delivery_ms")), "{}")
        line(label, "server CPU µs/message", g(key, "server_cpu_us_per_op"), "{:.0f}")
    line("revocation → close", "p50 / p99 ms", lambda s: _pair(_get(results, s, "revocation", "close_ms")), "{}")
    line("revocation → close", "close codes", lambda s: _get(results, s, "revocation", "close_codes"), "{}")
    line("presence offline", "p50 / p99 ms", lambda s: _pair(_get(results, s, "presence_offline", "offline_ms")), "{}")
    line("flood (20 pairs)", "delivered / sent", lambda s: _frac(_get(results, s, "flood", "delivered"), _get(results, s, "flood", "sent")), "{}")
    line("flood (20 pairs)", "abnormal closes", lambda s: _get(results, s, "flood", "abnormal_closes") if _get(results, s, "flood") else None, "{}")
    line("burst", "authenticated / tried", lambda s: _frac(_get(results, s, "burst", "authenticated"), _get(results, s, "burst", "sockets")), "{}")
    line("burst", "failures, abnormal closes", lambda s: _burst(_get(results, s, "burst")), "{}")
    for point in sorted({p["sockets"] for s in servers for p in (_get(results, s, "idle", "points") or [])}):
        line(f"idle {point}", "KiB per socket", lambda s, point=point: _point(results, s, point, "kib_per_socket"))
        line(f"idle {point}", "server RSS MiB", lambda s, point=point: _point(results, s, point, "rss_mb"))
    line("idle ramp", "first 1k sockets/s", g("idle", "first_segment_per_s"))
    line("idle ramp", "last 1k sockets/s", g("idle", "last_segment_per_s"))
    line("idle ramp", "held", g("idle", "held"), "{}")
    return lines


def _relay_order(key: str) -> tuple:
    parts = key.split("_")
    return (parts[1] == "max", int(parts[1]) if parts[1].isdigit() else 0, len(parts))


def _pair(node):
    if not node or node.get("p50") is None:
        return None
    return f"{node['p50']:.1f} / {node['p99']:.1f}"


def _frac(a, b):
    return None if a is None or b is None else f"{a} / {b}"


def _burst(node):
    if not isinstance(node, dict) or "sockets" not in node:
        return None
    return f"{sum((node.get('failures') or {}).values())}, {sum((node.get('abnormal_closes') or {}).values())}"


def layer_table(results: dict) -> list[str]:
    servers = [s for s in ("B", "B-redis", "B-pubsub") if s in results.get("servers", {})]
    if "B-redis" not in servers or "B-pubsub" not in servers:
        return []
    lines = ["| figure | " + " | ".join(servers) + " |", "|---|" + "---|" * len(servers)]
    rows = [("relay max msgs/s", ("relay_max", "delivered_per_s"), "{:.0f}"), ("relay max p99 ms", ("relay_max", "latency_ms", "p99"), "{:.1f}")]
    for key in sorted({k for s in servers for k in results["servers"][s] if k.startswith("fanout_") and k[7:].isdigit()}, key=lambda k: int(k.split("_")[1])):
        rows.append((f"{key.replace('_', ' ')} deliveries/s", (key, "deliveries_per_s"), "{:.0f}"))
        rows.append((f"{key.replace('_', ' ')} last-recipient p99 ms", (key, "last_recipient_ms", "p99"), "{:.1f}"))
    rows.append(("flood delivered", ("flood", "delivered"), "{}"))
    rows.append(("flood dropped", ("flood", "dropped"), "{}"))
    rows.append(("flood abnormal closes", ("flood", "abnormal_closes"), "{}"))
    for label, path, spec in rows:
        lines.append(f"| {label} | " + " | ".join(_fmt(_get(results, s, *path), spec) for s in servers) + " |")
    return lines


def markdown(results: dict) -> str:
    m = results.get("machine", {})
    out = [
        f"# Benchmark results ({results.get('profile')} profile, {results.get('started')})",
        "",
        f"Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gib')} GiB, Python {m.get('python')}, "
        f"Linux {m.get('kernel')}; load average at start {m.get('load_avg_at_start')}. "
        f"Server pinned to core {(results.get('pinned') or {}).get('server_core', '–')}, client to core "
        f"{(results.get('pinned') or {}).get('client_core', '–')}. Whole run: {results.get('wall_s')} s.",
        "",
        "## Goals (issue 7): ratios from this one run",
        "",
    ]
    present = [s for s in DEDWEN if s in results.get("servers", {})]
    if present:
        per = {s: goals(results, s) for s in present}
        out.append("| goal | measure | target | " + " | ".join(present) + " |")
        out.append("|---|---|---|" + "---|" * len(present))
        first = per[present[0]]
        for i, row in enumerate(first):
            cells = []
            for s in present:
                r = per[s][i] if i < len(per[s]) else None
                cells.append("–" if r is None else f"{r['value']} {_mark(r['met'])}".strip())
            what = row["what"].replace("B-redis", "B (B-redis for dedwen-redis)") if row["goal"] != "G8" else row["goal"] + " " + row["what"].split(":")[0]
            if row["goal"] == "G8":
                cells = [f"{_mark(per[s][i]['met'])} {per[s][i]['what'].split(': ', 1)[1]}" for s in present]
                what = row["what"].split(":")[0]
            out.append(f"| {row['goal']} | {what} | {row['target']} | " + " | ".join(cells) + " |")
        out.append("")
        out.append("Ratios for dedwen-redis are against B-redis (same layer family); the others against B.")
        out.append("")
    out += ["## Figures", ""] + figures_table(results) + [""]
    layers = layer_table(results)
    if layers:
        out += ["## Channel layers: core RedisChannelLayer vs RedisPubSubChannelLayer (stock settings, server B)", ""] + layers + [""]
    return "\n".join(out)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    servers = [s for s in ORDER if s in results.get("servers", {})]
    fig, axes = plt.subplots(2, 3, figsize=(16, 9))
    cdfs = [
        ("connect + auth latency", "connect"),
        (f"relay latency at the highest fixed rate", _top_relay(results)),
        ("fan-out, last recipient (largest)", _top_fanout(results)),
    ]
    for ax, (title, key) in zip(axes[0], cdfs):
        for s in servers:
            values = _get(results, s, key, "cdf_ms") if key else None
            if values:
                ys = [(i + 1) / len(values) for i in range(len(values))]
                ax.step(values, ys, where="post", label=s)
        ax.set_xscale("log")
        ax.set_xlabel("ms (log)")
        ax.set_ylabel("fraction")
        ax.set_title(f"{title} ({key})" if key else title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    bars = [
        ("connects/s", ("connect", "per_s")),
        ("relay max msgs/s", ("relay_max", "delivered_per_s")),
        (f"fan-out deliveries/s ({_top_fanout(results)})", (_top_fanout(results), "deliveries_per_s")),
    ]
    for ax, (title, path_) in zip(axes[1], bars):
        names = [s for s in servers if _get(results, s, *path_) is not None]
        values = [_get(results, s, *path_) for s in names]
        ax.bar(names, values, color=["#888" if n.startswith(("R", "B")) else "#2a7" for n in names])
        ax.set_yscale("log")
        ax.set_title(title + " (log)")
        ax.tick_params(axis="x", rotation=30, labelsize=8)
        for i, v in enumerate(values):
            ax.text(i, v, f"{v:.0f}", ha="center", va="bottom", fontsize=8)
    fig.suptitle(f"dedwen benchmark ({results.get('profile')}, {results.get('machine', {}).get('cpu')})")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _top_relay(results: dict) -> str | None:
    keys = {k for s in results.get("servers", {}).values() if isinstance(s, dict) for k in s if k.startswith("relay_") and k[6:].isdigit()}
    return max(keys, key=lambda k: int(k[6:]), default=None)


def _top_fanout(results: dict) -> str | None:
    keys = {k for s in results.get("servers", {}).values() if isinstance(s, dict) for k in s if k.startswith("fanout_") and k[7:].isdigit()}
    return max(keys, key=lambda k: int(k.split("_")[1]), default=None)


def write(results: dict, out_dir: Path) -> None:
    (out_dir / "latest.md").write_text(markdown(results))
    plot(results, out_dir / "latest.png")


if __name__ == "__main__":
    directory = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent / "results")
    write(json.loads((directory / "latest.json").read_text()), directory)
