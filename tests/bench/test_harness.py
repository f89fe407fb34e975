"""The benchmark harness works end to end against server R (counts only: no timing is asserted here)."""

from __future__ import annotations

import pytest

from bench import client, launch, world as worlds


@pytest.fixture
def raw_server(tmp_path):
    world = worlds.build(idle_users=20, pairs=2, fanout_members=6, fanout_small=3, revocations=0)
    path = tmp_path / "world.json"
    worlds.save(world, path)
    port = launch.free_port()
    server = launch.start("R", [str(launch.VENV_BIN / "python"), "-m", "bench.servers.raw", str(port), str(path)], env={}, log_dir=tmp_path, port=port, timeout=15)
    yield world, server
    server.stop()


def target(world, server):
    ids = list(range(1, world.user_count + 1))
    return client.Target("R", server, [worlds.bench_token(uid) for uid in ids], ids, {cid: cid + 1 for cid in world.conversations})


async def test_relay_delivers_every_typing_frame_to_the_other_member(raw_server):
    world, server = raw_server
    pairs = await client.open_pairs(target(world, server), world, world.pairs)
    try:
        result = await client.relay(pairs, rate=400.0, duration=0.5, drain=5.0)
    finally:
        await client.close_all(pairs.all)
    assert result["sent"] == 200
    assert result["ops"] == 200 and result["lost"] == 0
    assert result["abnormal_closes"] == {}


async def test_fanout_reaches_every_other_member_and_connects_are_counted(raw_server):
    world, server = raw_server
    t = target(world, server)
    members, _ = await client.open_many(t, [world.fanout_user(i) for i in range(world.fanout_members)])
    try:
        result = await client.fanout(members, conversation_id=t.conversations[world.fanout_conversation], size=world.fanout_members, events=3)
    finally:
        await client.close_all(members)
    assert result["ops"] == 3 * (world.fanout_members - 1) and result["missing"] == 0
    connects = await client.connect_auth(t, count=20, concurrency=5)
    assert connects["ops"] == 20 and connects["failures"] == {}


async def test_a_bad_token_is_counted_as_a_failure_not_a_connect(raw_server):
    world, server = raw_server
    t = target(world, server)
    t.tokens[0] = "not-a-token"
    result = await client.connect_auth(t, count=2, concurrency=2)
    assert result["ops"] == 1
    assert result["failures"] == {"closed 4401": 1}


@pytest.mark.skipif(not launch.can_pin(), reason="pinning needs two cores")
def test_a_server_started_after_the_client_pinned_itself_gets_the_other_core():
    import json
    import subprocess
    import sys

    # In a child: pinning is for the whole process, and must not narrow pytest's own cores.
    script = (
        "import json, os, subprocess, sys\n"
        "from bench import launch\n"
        "launch.pin_client()\n"
        "child = subprocess.run([sys.executable, '-c', 'import os; print(sorted(os.sched_getaffinity(0)))'],"
        " capture_output=True, text=True, preexec_fn=launch._child_setup, check=True)\n"
        "print(json.dumps({'client': sorted(os.sched_getaffinity(0)), 'server': json.loads(child.stdout)}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=launch.REPO, timeout=30)
    assert json.loads(done.stdout) == {"client": [launch.CLIENT_CORE], "server": [launch.SERVER_CORE]}


@pytest.mark.usefixtures("redis_url")
async def test_the_redis_hop_is_timed_on_every_frame_it_sends_through_redis(monkeypatch):
    from bench import hop
    from realtime import layers

    from_redis = []
    real_deliver = layers._LoopLayer.deliver

    def counting_deliver(layer, channel, messages):
        from_redis.extend(messages)
        return real_deliver(layer, channel, messages)

    monkeypatch.setattr(layers._LoopLayer, "deliver", counting_deliver)  # what the pub/sub reader hands over
    figures = await hop.measure(rate=1000, count=50)
    assert len(from_redis) == 51  # the warm-up and each frame: sent by another layer, none delivered without Redis
    assert 0 < figures["p50"] <= figures["p99"] <= figures["max"] < 10_000
    assert figures["cpu_us"] > 0


def test_slow_frames_are_grouped_into_episodes_in_send_order():
    from bench.tail import Episode, episodes

    fast, slow = 0.0002, 0.0009
    latencies = [fast] * 5 + [slow, slow, fast, slow] + [fast] * 10 + [slow] + [fast] * 3
    record = [(i / 1000, latency) for i, latency in enumerate(latencies)]
    record.reverse()  # as delivered out of order: grouped by when each was sent
    assert episodes(record, slow_ms=0.5) == [Episode(start_ms=5.0, frames=3, worst_ms=0.9), Episode(start_ms=19.0, frames=1, worst_ms=0.9)]
    assert episodes(record, slow_ms=1.0) == []


async def test_a_relay_records_when_each_delivered_frame_was_sent_and_how_long_it_took(raw_server):
    world, server = raw_server
    pairs = await client.open_pairs(target(world, server), world, world.pairs)
    record: list[tuple[float, float]] = []
    try:
        result = await client.relay(pairs, rate=400.0, duration=0.25, drain=5.0, record=record)
    finally:
        await client.close_all(pairs.all)
    assert len(record) == result["ops"] == 100
    assert all(0 <= sent < 0.25 + 0.05 and latency > 0 for sent, latency in record)


def test_each_window_of_a_record_gets_its_own_p99_in_milliseconds():
    from bench.tail import window_p99s

    quiet, stalled = [(i / 100, 0.005) for i in range(300)], [(3 + i / 100, 0.005) for i in range(300)]
    for i in range(150, 153):  # three slow acks in the second 3-s window: its 1 % (p99 is the 298th of 300)
        stalled[i] = (stalled[i][0], 0.25)
    assert window_p99s(quiet + stalled, window=3.0) == [5.0, 250.0]
    assert window_p99s([], window=3.0) == []


def test_a_paced_send_records_when_each_acked_message_was_sent_and_how_long_its_ack_took():
    from types import SimpleNamespace

    alice, bob = SimpleNamespace(on_frame=None), SimpleNamespace(on_frame=None)
    pairs = client.Pairs(senders=[alice], receivers=[bob], conversations=[7])
    record: list[tuple[float, float]] = []
    watch = client._MessageWatch(pairs, 1, record)
    watch.unacked["m-1"] = watch.started + 0.5
    watch.unacked["m-2"] = watch.started + 0.75
    alice.on_frame('{"type":"ack","ref":"m-1","data":{}}', watch.started + 0.52)
    alice.on_frame('{"type":"error","ref":"m-2","data":{"code":"forbidden"}}', watch.started + 0.8)
    assert [(round(sent, 3), round(latency, 3)) for sent, latency in record] == [(0.5, 0.02)]  # an error is no ack
    assert watch.errors == {"forbidden": 1}
