"""The bench report: which figures the goals are judged on."""

from __future__ import annotations

from bench import report


def connect(per_s: float, p99: float) -> dict:
    return {"per_s": per_s, "latency_ms": {"p99": p99}, "concurrency": 50}


def relay(p99: float) -> dict:
    return {"latency_ms": {"p99": p99}}


def goal(rows: list[dict], what: str) -> dict:
    [found] = [row for row in rows if row["what"] == what]
    return found


def suite_where_dedwen_looks_slow() -> dict:
    """A suite run B in a fast minute and dedwen in a slow one; the rounds measured them back to back."""
    return {
        "servers": {
            "R": {"relay_1000": relay(0.5)},
            "D": {"connect": connect(900, 100), "relay_1000": relay(0.9)},
            "B": {"connect": connect(600, 150)},
            "dedwen": {"connect": connect(300, 400), "relay_1000": relay(2.0), "log_errors": 0},
        },
        "rounds": [
            {"R": {"relay_1000": relay(0.5)}, "D": {"connect": connect(800, 90)}, "B": {"connect": connect(500, 140)},
             "dedwen": {"connect": connect(550, 120), "relay_1000": relay(0.9), "log_errors": 0}},
            {"R": {"relay_1000": relay(0.4)}, "D": {"connect": connect(700, 90)}, "B": {"connect": connect(400, 150)},
             "dedwen": {"connect": connect(380, 160), "relay_1000": relay(1.0), "log_errors": 2}},
            {"R": {"relay_1000": relay(0.6)}, "D": {"connect": connect(900, 90)}, "B": {"connect": connect(600, 130)},
             "dedwen": {"connect": connect(660, 110), "relay_1000": relay(0.9), "log_errors": 0}},
        ],
    }


def test_the_connect_goals_are_judged_on_the_median_of_the_back_to_back_rounds():
    rows = report.goals(suite_where_dedwen_looks_slow(), "dedwen")
    connects = goal(rows, "connects/s vs B")
    assert connects["value"] == "1.10 (rounds: 1.10, 0.95, 1.10)"  # the suite alone: 0.50
    assert connects["met"] is True
    p99 = goal(rows, "connect p99 at concurrency 50, ms")
    assert p99["value"] == "120 (rounds: 120, 160, 110)"  # the suite alone: 400
    assert p99["met"] is True
    assert goal(rows, "errors logged by the server in the run")["value"] == "2"  # the rounds' logs count too


def test_the_relay_p99_goal_is_judged_on_the_rounds_against_r_in_the_same_round():
    rows = report.goals(suite_where_dedwen_looks_slow(), "dedwen")
    relay_goal = goal(rows, "relay p99 at 1000/s vs R")
    assert relay_goal["value"] == "1.80 (rounds: 1.80, 2.50, 1.50)"  # the suite alone: 4.00
    assert relay_goal["met"] is True


def test_without_rounds_the_goals_fall_back_to_the_suite():
    results = suite_where_dedwen_looks_slow()
    del results["rounds"]
    rows = report.goals(results, "dedwen")
    assert goal(rows, "connects/s vs B")["value"] == "0.50"
    assert goal(rows, "connects/s vs B")["met"] is False
    assert goal(rows, "relay p99 at 1000/s vs R")["value"] == "4.00"


def test_the_open_goal_shows_how_busy_each_core_was():
    results = suite_where_dedwen_looks_slow()
    results["world"] = {"fanout_members": 1000}
    results["servers"]["dedwen"]["fanout_setup"] = {"members": 1000, "seconds": 12.1, "cores_busy": {"server": 0.68, "client": 0.97}}
    open_goal = goal(report.goals(results, "dedwen"), "fan-out: open 1000 members of one conversation (judged at 1,000)")
    assert open_goal["value"] == "12.1 s (1000 of 1000 opened; cores busy: server 68%, client 97%)"
    assert open_goal["met"] is False
