"""The Redis store across processes: shared presence, atomic transitions, leases, ghosts, outages."""

from __future__ import annotations

import asyncio
import logging
import random

import redis
import redis.asyncio as aioredis
from django.conf import settings

from presence.stores import Status, Transitions
from tests.support.waiting import auntil

ALICE, BOB, CAROL = 201, 202, 203
DEADLINE = 10.0  # seconds: the bound on every wait below


async def lease_left_ms(store) -> int:
    """Return how long the store's process lease still runs, by the Redis clock (its own state: P:procs)."""
    client = aioredis.Redis.from_url(settings.REDIS_URL)
    try:
        expiry = await client.zscore(store.procs_key, store.process_id)
        seconds, microseconds = await client.time()
    finally:
        await client.aclose()
    assert expiry is not None, "the process holds no lease"
    return int(expiry) - (seconds * 1000 + microseconds // 1000)


async def test_presence_crosses_processes(redis_stores):
    one, two = redis_stores(), redis_stores()

    assert await one.open(user_id=ALICE, socket_id="one.a1") is Status.ONLINE
    assert await two.online(user_ids=[ALICE]) == {ALICE}
    assert await two.open(user_id=ALICE, socket_id="two.a1") is None
    assert await one.close(user_id=ALICE, socket_id="one.a1") is None
    assert await two.close(user_id=ALICE, socket_id="two.a1") is Status.OFFLINE
    assert await one.online(user_ids=[ALICE]) == set()


async def test_concurrent_opens_and_closes_on_two_processes_make_one_transition_each_way(redis_stores):
    one, two = redis_stores(), redis_stores()
    for _ in range(10):
        ops = [(store, f"{name}.{n}") for n in range(20) for store, name in ((one, "one"), (two, "two"))]
        random.shuffle(ops)

        opened = await asyncio.gather(*(store.open(user_id=ALICE, socket_id=sid) for store, sid in ops))
        random.shuffle(ops)
        closed = await asyncio.gather(*(store.close(user_id=ALICE, socket_id=sid) for store, sid in ops))

        assert (opened.count(Status.ONLINE), closed.count(Status.OFFLINE)) == (1, 1)


async def test_interleaved_opens_and_closes_on_two_processes_alternate_transitions(redis_stores):
    one, two = redis_stores(), redis_stores()
    opened, closed = [], []

    async def flap(store, name):
        for n in range(30):
            opened.append(await store.open(user_id=ALICE, socket_id=f"{name}.{n}"))
            closed.append(await store.close(user_id=ALICE, socket_id=f"{name}.{n}"))

    await asyncio.gather(flap(one, "one"), flap(two, "two"))

    # Every online was followed by exactly one offline: the final state is offline, none doubled.
    assert opened.count(Status.ONLINE) == closed.count(Status.OFFLINE) >= 1
    assert await one.online(user_ids=[ALICE]) == set()


async def test_a_dead_process_is_reaped_once_and_its_users_go_offline(redis_stores):
    dead = redis_stores(ttl=0.5)
    sweepers = [redis_stores(ttl=0.5), redis_stores(ttl=0.5)]
    await dead.open(user_id=ALICE, socket_id="dead.a1")
    await dead.open(user_id=BOB, socket_id="dead.b1")
    await sweepers[0].open(user_id=BOB, socket_id="live.b1")  # bob has a live socket elsewhere
    seen: list[Transitions] = []

    async def swept():
        seen.extend(await asyncio.gather(*(sweeper.maintain() for sweeper in sweepers)))
        return any(ALICE in changes.offline for changes in seen)

    await auntil(swept, timeout=DEADLINE)  # the dead process stops heartbeating: its lease runs out

    assert sum(ALICE in changes.offline for changes in seen) == 1
    assert not any(BOB in changes.offline for changes in seen)
    assert await sweepers[1].online(user_ids=[ALICE, BOB]) == {BOB}


async def test_a_heartbeating_process_is_never_reaped(redis_stores):
    live, sweeper = redis_stores(ttl=0.5), redis_stores(ttl=0.5)
    await live.open(user_id=ALICE, socket_id="live.a1")

    interval_ms = live.maintenance_interval * 1000
    for _ in range(12):  # about four leases long: a beat each time the lease has run down by one interval
        await live.maintain()
        assert not await sweeper.maintain()
        after_beat = await lease_left_ms(live)
        await auntil(
            lambda: _lease_below(live, after_beat - interval_ms), timeout=DEADLINE, what="the lease running down an interval"
        )

    assert await sweeper.online(user_ids=[ALICE]) == {ALICE}


async def test_a_reaped_live_process_puts_its_sockets_back(redis_stores):
    live, sweeper = redis_stores(ttl=0.5), redis_stores(ttl=0.5)
    await live.open(user_id=ALICE, socket_id="live.a1")
    await auntil(lambda: _reaps(sweeper, ALICE), timeout=DEADLINE)  # e.g. the live process stalled past its lease

    changes = await live.maintain()

    assert changes.online == {ALICE}
    assert await sweeper.online(user_ids=[ALICE]) == {ALICE}


async def test_a_resync_runs_alone_while_opens_and_closes_of_other_sockets_wait_for_it(redis_stores, redis_prefix):
    store, other = redis_stores(), redis_stores()
    users = list(range(1000, 1050))
    await asyncio.gather(*(store.open(user_id=uid, socket_id=f"s{uid}") for uid in users[:25]))
    _flush(redis_prefix)  # Redis lost this process's sockets: the next heartbeat resyncs them

    resync, *written = await asyncio.gather(
        store.maintain(),
        *(store.close(user_id=uid, socket_id=f"s{uid}") for uid in users[:12]),
        *(store.open(user_id=uid, socket_id=f"s{uid}") for uid in users[25:]),
    )

    assert resync.online == set(users[:25])  # it put back the sockets as they were when it started
    assert written == [Status.OFFLINE] * 12 + [Status.ONLINE] * 25  # each write then made its own transition
    assert await other.online(user_ids=users) == set(users[12:])
    assert (await store.maintain()).online == set()  # the lease check finds Redis holding exactly these sockets


async def test_a_sockets_close_reaches_redis_after_its_open_even_when_called_before_the_open_returns(redis_stores):
    store, other = redis_stores(), redis_stores()

    opened, closed = await asyncio.gather(
        store.open_and_read(user_id=ALICE, socket_id="a1", user_ids=[BOB]), store.close(user_id=ALICE, socket_id="a1")
    )

    assert (opened.changed, closed) == (Status.ONLINE, Status.OFFLINE)
    assert await other.online(user_ids=[ALICE]) == set()


async def _lease_below(store, ms: float) -> bool:
    return await lease_left_ms(store) <= ms


async def _reaps(store, user_id):
    return user_id in (await store.maintain()).offline


async def test_lost_redis_data_is_rebuilt_by_the_heartbeat(redis_stores, redis_prefix):
    store = redis_stores()
    await store.open(user_id=ALICE, socket_id="a1")
    _flush(redis_prefix)  # e.g. Redis restarted without persistence

    changes = await store.maintain()

    assert changes.online == {ALICE}
    assert await redis_stores().online(user_ids=[ALICE]) == {ALICE}


async def test_an_unreachable_redis_degrades_presence_and_it_recovers(redis_stores, redis_proxy, caplog):
    store, observer = redis_stores(url=redis_proxy.url), redis_stores()
    await store.open(user_id=ALICE, socket_id="a1")
    await redis_proxy.cut()

    with caplog.at_level(logging.WARNING, logger="dedwen.presence"):
        assert await store.open(user_id=BOB, socket_id="b1") is None  # no error: the socket is served
        assert await store.close(user_id=ALICE, socket_id="a1") is None
        assert await store.online(user_ids=[ALICE, BOB]) == {BOB}  # what this process knows
        assert not await store.maintain()
    assert "Redis unreachable" in caplog.text
    await redis_proxy.start()

    changes = await auntil(store.maintain, timeout=DEADLINE)

    assert changes == Transitions(online={BOB}, offline={ALICE})
    assert await observer.online(user_ids=[ALICE, BOB]) == {BOB}


async def test_opening_with_a_read_of_more_users_than_one_script_reads_returns_every_status(redis_stores):
    store, other = redis_stores(), redis_stores()
    contacts = list(range(1000, 2500))  # beyond what the open script reads itself
    for user_id in contacts[::100]:
        await other.open(user_id=user_id, socket_id=f"s{user_id}")

    opened = await store.open_and_read(user_id=ALICE, socket_id="a1", user_ids=contacts)

    assert opened.changed is Status.ONLINE
    assert set(opened.statuses) == set(contacts)
    assert {uid for uid, status in opened.statuses.items() if status is Status.ONLINE} == set(contacts[::100])


async def test_opening_with_a_read_while_redis_is_unreachable_serves_this_process_and_resyncs_later(
    redis_stores, redis_proxy
):
    store, observer = redis_stores(url=redis_proxy.url), redis_stores()
    await observer.open(user_id=BOB, socket_id="b1")
    await store.open(user_id=ALICE, socket_id="a1")
    await redis_proxy.cut()

    opened = await store.open_and_read(user_id=ALICE, socket_id="a2", user_ids=[ALICE, BOB])
    other = await store.open_and_read(user_id=CAROL, socket_id="c1", user_ids=[BOB])

    assert opened.changed is None and opened.statuses == {ALICE: Status.ONLINE, BOB: Status.OFFLINE}  # what this process knows
    assert other.changed is None
    await redis_proxy.start()
    changes = await auntil(store.maintain, timeout=DEADLINE)
    assert changes == Transitions(online={CAROL})
    assert await observer.online(user_ids=[ALICE, BOB, CAROL]) == {ALICE, BOB, CAROL}


def _flush(prefix: str) -> None:
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


async def test_two_processes_racing_an_idle_and_a_close_make_each_change_once(redis_stores):
    for round_number in range(20):
        one, two = redis_stores(), redis_stores()
        await one.open(user_id=ALICE, socket_id=f"one.{round_number}")
        await two.open(user_id=ALICE, socket_id=f"two.{round_number}")
        await two.activity(user_id=ALICE, socket_id=f"two.{round_number}", idle=True)
        races = [
            one.activity(user_id=ALICE, socket_id=f"one.{round_number}", idle=True),
            two.close(user_id=ALICE, socket_id=f"two.{round_number}"),
        ]
        random.shuffle(races)

        changes = [change for change in await asyncio.gather(*races) if change is not None]

        assert changes == [Status.IDLE]  # online -> idle once, whichever ran first
        assert await two.statuses(user_ids=[ALICE]) == {ALICE: Status.IDLE}
        assert await one.close(user_id=ALICE, socket_id=f"one.{round_number}") is Status.OFFLINE


async def test_a_clean_stop_leaves_its_users_in_the_grace_and_another_process_ends_it_once(redis_stores):
    stopping, other, third = redis_stores(grace=0.3), redis_stores(grace=0.3), redis_stores(grace=0.3)
    await stopping.open(user_id=ALICE, socket_id="stopping.a1")
    await stopping.open(user_id=BOB, socket_id="stopping.b1")
    await other.open(user_id=BOB, socket_id="other.b1")

    changes = await stopping.shutdown()

    assert not changes and changes.waiting == {ALICE}  # bob still has a socket elsewhere
    assert await other.statuses(user_ids=[ALICE, BOB]) == {ALICE: Status.ONLINE, BOB: Status.ONLINE}
    offline: list[int] = []

    async def ended():
        found = await asyncio.gather(other.due(), third.due())
        offline.extend(user_id for users in found for user_id in users)
        return offline

    assert await auntil(ended, timeout=DEADLINE) == [ALICE]


async def test_a_stopping_process_knows_whether_another_one_will_end_the_graces_it_leaves(redis_stores):
    first, last = redis_stores(grace=60), redis_stores(grace=60)
    await first.open(user_id=ALICE, socket_id="first.a1")
    await last.open(user_id=BOB, socket_id="last.b1")

    await first.shutdown()
    assert await first.others_alive() is True  # `last` still holds its lease: it ends alice's grace

    await last.shutdown()
    assert await last.others_alive() is False  # nobody is left: the last process ends the graces itself


async def test_reconnecting_to_another_process_within_the_grace_announces_nothing(redis_stores):
    stopping, other = redis_stores(grace=60), redis_stores(grace=60)
    await stopping.open(user_id=ALICE, socket_id="stopping.a1")
    await stopping.shutdown()

    assert await other.open(user_id=ALICE, socket_id="other.a1") is None
    assert await other.waiting() == 0


async def test_a_killed_processs_users_turn_offline_with_the_sweep_not_after_another_grace(redis_stores):
    dead, sweeper = redis_stores(ttl=0.5, grace=60), redis_stores(ttl=0.5, grace=60)
    await dead.open(user_id=ALICE, socket_id="dead.a1")

    changes = await auntil(sweeper.maintain, timeout=DEADLINE)

    assert changes.offline == {ALICE}  # the TTL was the grace


async def test_idle_sockets_are_resynced_as_idle(redis_stores, redis_prefix):
    store = redis_stores()
    await store.open(user_id=ALICE, socket_id="a1")
    await store.activity(user_id=ALICE, socket_id="a1", idle=True)
    _flush(redis_prefix)

    changes = await store.maintain()

    assert changes.idle == {ALICE}
    assert await redis_stores().statuses(user_ids=[ALICE]) == {ALICE: Status.IDLE}
