"""The presence store contract: every store (in-process and Redis) passes these."""

from __future__ import annotations

import asyncio

import pytest

from presence.stores import Opened, Status

ALICE, BOB, CAROL = 101, 102, 103


async def test_a_users_first_socket_makes_them_online(make_store):
    store = make_store()

    assert await store.open(user_id=ALICE, socket_id="a1") is Status.ONLINE

    assert await store.online(user_ids=[ALICE, BOB]) == {ALICE}


async def test_a_second_socket_of_the_same_user_is_no_transition(make_store):
    store = make_store()
    await store.open(user_id=ALICE, socket_id="a1")

    assert await store.open(user_id=ALICE, socket_id="a2") is None
    assert await store.open(user_id=ALICE, socket_id="a2") is None  # the same socket again: idempotent


async def test_only_the_last_socket_closing_makes_the_user_offline(make_store):
    store = make_store()
    await store.open(user_id=ALICE, socket_id="a1")
    await store.open(user_id=ALICE, socket_id="a2")

    assert await store.close(user_id=ALICE, socket_id="a1") is None
    assert await store.online(user_ids=[ALICE]) == {ALICE}
    assert await store.close(user_id=ALICE, socket_id="a2") is Status.OFFLINE
    assert await store.online(user_ids=[ALICE]) == set()


async def test_closing_an_unknown_or_closed_socket_changes_nothing(make_store):
    store = make_store()
    await store.open(user_id=ALICE, socket_id="a1")

    assert await store.close(user_id=ALICE, socket_id="nope") is None
    assert await store.close(user_id=BOB, socket_id="a1") is None
    assert await store.online(user_ids=[ALICE]) == {ALICE}
    assert await store.close(user_id=ALICE, socket_id="a1") is Status.OFFLINE
    assert await store.close(user_id=ALICE, socket_id="a1") is None


async def test_users_are_counted_apart(make_store):
    store = make_store()
    await store.open(user_id=ALICE, socket_id="a1")

    assert await store.open(user_id=BOB, socket_id="b1") is Status.ONLINE
    assert await store.close(user_id=ALICE, socket_id="a1") is Status.OFFLINE
    assert await store.online(user_ids=[ALICE, BOB]) == {BOB}


async def test_concurrent_opens_and_closes_make_exactly_one_transition_each_way(make_store):
    store = make_store()
    sockets = [f"a{n}" for n in range(50)]

    opened = await asyncio.gather(*(store.open(user_id=ALICE, socket_id=s) for s in sockets))
    closed = await asyncio.gather(*(store.close(user_id=ALICE, socket_id=s) for s in sockets))

    assert opened.count(Status.ONLINE) == 1
    assert closed.count(Status.OFFLINE) == 1
    assert await store.online(user_ids=[ALICE]) == set()


async def test_opening_with_a_read_reports_the_transition_and_the_statuses_as_they_are_after_the_open(make_store):
    store = make_store()
    await store.open(user_id=BOB, socket_id="b1")
    await store.activity(user_id=BOB, socket_id="b1", idle=True)

    opened = await store.open_and_read(user_id=ALICE, socket_id="a1", user_ids=[BOB, CAROL, ALICE])

    assert opened == Opened(changed=Status.ONLINE, statuses={BOB: Status.IDLE, CAROL: Status.OFFLINE, ALICE: Status.ONLINE})
    assert await store.open_and_read(user_id=ALICE, socket_id="a2", user_ids=[]) == Opened(changed=None, statuses={})
    assert await store.close(user_id=ALICE, socket_id="a1") is None  # both sockets are counted
    assert await store.close(user_id=ALICE, socket_id="a2") is Status.OFFLINE


async def test_concurrent_opens_with_reads_make_exactly_one_transition_and_each_reads_the_user_present(make_store):
    store = make_store()
    sockets = [f"a{n}" for n in range(50)]

    opened = await asyncio.gather(*(store.open_and_read(user_id=ALICE, socket_id=s, user_ids=[ALICE]) for s in sockets))

    assert [o.changed for o in opened].count(Status.ONLINE) == 1
    assert all(o.statuses == {ALICE: Status.ONLINE} for o in opened)
    closed = await asyncio.gather(*(store.close(user_id=ALICE, socket_id=s) for s in sockets))
    assert closed.count(Status.OFFLINE) == 1


async def test_maintenance_of_a_healthy_store_changes_nothing(make_store):
    store = make_store()
    await store.open(user_id=ALICE, socket_id="a1")

    changes = await store.maintain()

    assert not changes
    assert await store.online(user_ids=[ALICE]) == {ALICE}


async def test_shutdown_unregisters_every_socket_and_names_who_went_offline(make_store):
    store = make_store()
    await store.open(user_id=ALICE, socket_id="a1")
    await store.open(user_id=ALICE, socket_id="a2")
    await store.open(user_id=BOB, socket_id="b1")

    assert (await store.shutdown()).offline == {ALICE, BOB}
    assert await store.online(user_ids=[ALICE, BOB]) == set()


@pytest.mark.parametrize("rounds", [20])
async def test_no_transition_is_lost_when_a_user_flaps(make_store, rounds):
    store = make_store()
    transitions = []

    for n in range(rounds):
        transitions.append(await store.open(user_id=ALICE, socket_id=f"a{n}"))
        transitions.append(await store.close(user_id=ALICE, socket_id=f"a{n}"))

    assert transitions == [Status.ONLINE, Status.OFFLINE] * rounds


# Grace: the last socket closing starts it; `due` ends it; a socket opening first cancels it ------------


async def until_due(store, *, timeout: float = 5.0) -> set[int]:
    """Call `due` until it turns someone offline (bounded); return who."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (offline := await store.due()):
        assert loop.time() < deadline, "nobody's grace ended in time"
        await asyncio.sleep(0.05)
    return offline


async def test_with_a_grace_the_last_close_announces_nothing_and_the_user_stays_as_they_were(make_store):
    store = make_store(grace=60)
    await store.open(user_id=ALICE, socket_id="a1")

    assert await store.close(user_id=ALICE, socket_id="a1") is None
    assert await store.statuses(user_ids=[ALICE]) == {ALICE: Status.ONLINE}
    assert await store.waiting() == 1
    assert await store.due() == set()  # the grace is far from over


async def test_a_socket_reopening_within_the_grace_cancels_it_and_announces_nothing(make_store):
    store = make_store(grace=60)
    await store.open(user_id=ALICE, socket_id="page1")
    await store.close(user_id=ALICE, socket_id="page1")

    assert await store.open(user_id=ALICE, socket_id="page2") is None  # a navigation: still online
    assert await store.waiting() == 0
    assert await store.close(user_id=ALICE, socket_id="page2") is None
    assert await store.waiting() == 1


async def test_once_the_grace_is_over_due_turns_the_user_offline_exactly_once(make_store):
    store, other = make_store(grace=0.2), make_store(grace=0.2)
    await store.open(user_id=ALICE, socket_id="a1")
    await store.open(user_id=BOB, socket_id="b1")
    await store.close(user_id=ALICE, socket_id="a1")

    assert await until_due(store) == {ALICE}

    assert await store.due() == set()
    assert await other.due() == set()
    assert await store.statuses(user_ids=[ALICE, BOB]) == {ALICE: Status.OFFLINE, BOB: Status.ONLINE}
    assert await store.open(user_id=ALICE, socket_id="a2") is Status.ONLINE


async def test_a_user_who_idled_comes_back_active_within_the_grace_as_one_change(make_store):
    store = make_store(grace=60)
    await store.open(user_id=ALICE, socket_id="a1")
    await store.activity(user_id=ALICE, socket_id="a1", idle=True)
    await store.close(user_id=ALICE, socket_id="a1")

    assert await store.statuses(user_ids=[ALICE]) == {ALICE: Status.IDLE}
    assert await store.open(user_id=ALICE, socket_id="a2") is Status.ONLINE


# Idle: the best of the user's sockets --------------------------------------------------------------------


async def test_a_user_is_idle_only_while_every_socket_is_idle(make_store):
    store = make_store()
    await store.open(user_id=ALICE, socket_id="phone")

    assert await store.activity(user_id=ALICE, socket_id="phone", idle=True) is Status.IDLE
    assert await store.activity(user_id=ALICE, socket_id="phone", idle=True) is None  # no change, no event
    assert await store.open(user_id=ALICE, socket_id="laptop") is Status.ONLINE
    assert await store.activity(user_id=ALICE, socket_id="laptop", idle=True) is Status.IDLE
    assert await store.activity(user_id=ALICE, socket_id="phone", idle=False) is Status.ONLINE
    assert await store.close(user_id=ALICE, socket_id="phone") is Status.IDLE  # the active one left
    assert await store.online(user_ids=[ALICE]) == {ALICE}  # idle is present
    assert await store.close(user_id=ALICE, socket_id="laptop") is Status.OFFLINE


async def test_activity_of_an_unknown_or_closed_socket_changes_nothing(make_store):
    store = make_store()
    await store.open(user_id=ALICE, socket_id="a1")
    await store.open(user_id=ALICE, socket_id="a2")
    await store.close(user_id=ALICE, socket_id="a2")

    assert await store.activity(user_id=ALICE, socket_id="a2", idle=False) is None
    assert await store.activity(user_id=BOB, socket_id="a1", idle=True) is None
    assert await store.activity(user_id=ALICE, socket_id="a1", idle=True) is Status.IDLE  # a2 left no trace


async def test_concurrent_idles_and_closes_make_each_change_once(make_store):
    store = make_store()
    sockets = [f"a{n}" for n in range(30)]
    for socket_id in sockets:
        await store.open(user_id=ALICE, socket_id=socket_id)

    results = await asyncio.gather(
        *(store.activity(user_id=ALICE, socket_id=s, idle=True) for s in sockets[::2]),
        *(store.close(user_id=ALICE, socket_id=s) for s in sockets[1::2]),
    )

    assert [r for r in results if r is not None] == [Status.IDLE]
    assert await store.statuses(user_ids=[ALICE]) == {ALICE: Status.IDLE}


async def test_shutdown_ends_idle_users_too(make_store):
    store = make_store()
    await store.open(user_id=ALICE, socket_id="a1")
    await store.activity(user_id=ALICE, socket_id="a1", idle=True)

    assert (await store.shutdown()).offline == {ALICE}
