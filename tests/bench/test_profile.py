"""Summaries of py-spy's raw (collapsed) stacks, as `bin/bench --py-spy` writes them."""

from __future__ import annotations

from bench import profile

STACKS = "\n".join([
    "thread (1);<module> (daphne:8);Handle._run (asyncio/events.py:80);dispatch (realtime/consumer.py:190) 6",
    "thread (1);<module> (daphne:8);Handle._run (asyncio/events.py:80);execute (psycopg/cursor.py:97) 3",
    "thread (1);read_response (redis/asyncio/connection.py:12) 1",  # a resumed coroutine: its stack is cut short
])


def test_a_profile_is_summed_by_function_and_by_the_package_each_sample_was_in(tmp_path):
    path = tmp_path / "dedwen-connect.txt"
    path.write_text(STACKS)
    summary = profile.summarize(path)
    assert summary["samples"] == 10
    assert summary["self_pct"][0] == ("dispatch (consumer.py)", 60.0)
    assert ("Handle._run (events.py)", 90.0) in summary["inclusive_pct"]
    assert summary["self_by_package_pct"] == [("realtime", 60.0), ("psycopg", 30.0), ("redis", 10.0)]
